"""Write the pinned driver tables that tests/test_pins.py compares against.

Run from the repository root (with the package's code of the commit whose numbers are pinned):

    PYTHONPATH=$PWD python tests/data/make_pins.py

Writes tests/data/pins.csv (every run's rows, values with 17 significant digits so that they
read back exactly), tests/data/pins_failures.json (each run's failures) and
tests/data/pins_inputs.json (a checksum of the float32 embeddings and views the model runs
read, so that another platform's rounding is told apart from a changed number).
"""

import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import test_pins  # noqa: E402


def main() -> None:
    tables, failures = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in test_pins.RUNS:
            folder = Path(tmp) / run
            folder.mkdir()
            table, failed = test_pins.compute(run, folder)
            tables.append(table)
            failures[run] = failed
            print(f"{run}: {len(table)} rows, {len(failed)} failures")
    pd.concat(tables, ignore_index=True).to_csv(test_pins.PINS, index=False, float_format="%.17g")
    test_pins.FAILURES.write_text(json.dumps(failures, indent=1) + "\n")
    checksum = {"checksum": test_pins.input_checksum()}
    test_pins.INPUTS.write_text(json.dumps(checksum, indent=1) + "\n")


if __name__ == "__main__":
    main()
