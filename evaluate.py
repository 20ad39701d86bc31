"""Score a NER model, a predictions file or the baselines; or cross-validate a config by article.

    python evaluate.py --model outputs/tiny/model --split test --output outputs/tiny/eval/report.json
    python evaluate.py --predictions FILE.conll          # TOKEN ... GOLD PRED columns, no model needed
    python evaluate.py --cross-validate --config configs/tiny.yaml

See ``vietner.evaluation`` and the README's "Evaluation" section.
"""

import sys

from vietner.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
