from analyses.cli import main

raise SystemExit(main())
