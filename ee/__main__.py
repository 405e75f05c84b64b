from ee.cli import main

main()
