from igest_sync.cli import main

main()
