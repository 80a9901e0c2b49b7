from utils.virtual_board import virtual_boards  # noqa: F401  (the fixture)
