# mmgres first, before mmengine.runner (see tests/conftest.py); and the
# projects' packages need the repository root on sys.path, which the
# editable install provides.
import mmgres  # noqa: F401
