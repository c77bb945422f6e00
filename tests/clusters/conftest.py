from taichu.lab.pytest_fixtures import *  # noqa: F403
