"""The README's results table, generated from the records of `experiments.reproduce`.

  python -m experiments.results_table [--results_dir=results] [--readme=README.md]

Prints a markdown table of every `results/<dataset>/<method>.json`: our test NLL with its
standard error and the K it was estimated with, the paper's number (reference section 5) and
the difference (ours - paper: negative is better), the chosen architecture, epochs and training
time. With `--readme` it replaces the lines between the markers `<!-- results-table:start -->`
and `<!-- results-table:end -->` of that file.
"""

from absl import app, flags

from experiments import results

_RESULTS_DIR = flags.DEFINE_string("results_dir", "results", "Folder of the records.")
_README = flags.DEFINE_string("readme", None, "Markdown file whose marked table to replace.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  block = results.table(results.load_records(_RESULTS_DIR.value))
  print(block)
  if _README.value:
    with open(_README.value, encoding="utf-8") as f:
      text = f.read()
    with open(_README.value, "w", encoding="utf-8") as f:
      f.write(results.replace_marked(text, block))


if __name__ == "__main__":
  app.run(main)
