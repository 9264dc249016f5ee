from mcu_mobilenet.cli import main

raise SystemExit(main())
