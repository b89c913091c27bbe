# These tests share IGVGHead's test helpers (tests/test_models/
# igvg_utils.py): the repository's tests/ folder goes on sys.path, as
# pytest puts it there itself when it collects tests/ in the same run.
import os.path as osp
import sys

TESTS = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..', 'tests'))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
