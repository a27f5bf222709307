"""Console-script entry point; the commands live in softneuro_ep.tools.cli."""


def main(argv=None):
    from .tools.cli import main as tools_main
    return tools_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
