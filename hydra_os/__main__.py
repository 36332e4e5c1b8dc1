from hydra_os.cli import main

main()
