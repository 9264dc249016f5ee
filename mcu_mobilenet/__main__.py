# SPDX-License-Identifier: Apache-2.0
from mcu_mobilenet.cli import main

raise SystemExit(main())
