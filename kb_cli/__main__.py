from kb_cli.main import run

run()
