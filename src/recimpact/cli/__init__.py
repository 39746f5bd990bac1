"""The ``recimpact`` command line (Typer + Rich): ``main`` holds the app and its entry point, a module per command
group beside it, ``output`` what they share, ``client`` their calls to the server, ``demo`` the end-to-end story."""
