from botarmy.cli.main import main

main()
