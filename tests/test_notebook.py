"""The quickstart notebook: committed without outputs, and runs top to bottom without errors.

The notebook runs in a fresh Jupyter kernel ("python3", the interpreter running the tests) with
BIHM_NOTEBOOK_QUICK=1, which shrinks every training run and sampler to a smoke test; the cells
are otherwise exactly those a user runs. Any cell that raises fails the test with the cell's
traceback.
"""

import json
import os

import nbclient
import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "notebooks", "bihm_quickstart.ipynb")
CELL_TIMEOUT_S = 600


def test_committed_notebook_is_valid_and_has_no_outputs():
  with open(NOTEBOOK, encoding="utf-8") as f:
    raw = json.load(f)
  nbformat.validate(nbformat.from_dict(raw))
  assert raw["metadata"]["kernelspec"]["name"] == "python3"
  for i, cell in enumerate(raw["cells"]):
    if cell["cell_type"] == "code":
      assert cell["outputs"] == [], f"cell {i} has outputs: strip them before committing"
      assert cell["execution_count"] is None, f"cell {i} has an execution count: strip outputs"
    assert "execution" not in cell.get("metadata", {}), f"cell {i} has execution timings in its metadata"


def _outputs(nb, output_type=None):
  return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
          if output_type is None or output.output_type == output_type]


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
  monkeypatch.setenv("BIHM_NOTEBOOK_QUICK", "1")
  monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's workdirs land here
  # The kernel imports this checkout's bihm_jax and experiments even if they are not installed.
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
  monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences jupyter_core's path-migration warning
  nb = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                                   resources={"metadata": {"path": str(tmp_path)}})
  try:
    client.execute()
  except nbclient.exceptions.CellExecutionError as error:
    pytest.fail(f"a notebook cell failed:\n{error}")

  text = "".join(output.get("text", "") for output in _outputs(nb, "stream"))
  figures = [output for output in _outputs(nb) if "image/png" in output.get("data", {})]
  assert "QUICK=True" in text
  assert "below K=1000" in text  # the likelihood-versus-K summary
  mnist_local = os.path.exists(os.path.join(os.environ.get("BIHM_DATA_DIR") or "", "binarized_mnist.npz"))
  if mnist_local:
    assert "Skipping MNIST" not in text
  # Training curves, likelihood versus K, the tiny model's sampler check, MNIST samples.
  assert len(figures) >= (4 if mnist_local else 3), text
