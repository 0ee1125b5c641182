from minidocker.cli import entry

entry()
