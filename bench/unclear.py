"""What forwarding unclear @-mentions to the member on duty recovers, and what it costs, on the labelled corpus.

    .venv/bin/python bench/unclear.py

For each split: urgent messages the rules miss entirely (not a request), how many of those the forwarding rule
(config/sla.yaml `unclear_forward`) puts in front of a member, and how many non-requests it would forward if they
@-mentioned the bot (in a real group most chatter does not).
"""
from __future__ import annotations

from gridbot.config import DEFAULT_CONFIG_DIR, load_yaml
from gridbot.understanding import get_understander
from gridbot.understanding.corpus import load_corpus


def main() -> None:
    understander = get_understander(DEFAULT_CONFIG_DIR)
    rule = load_yaml(DEFAULT_CONFIG_DIR, "sla.yaml")["unclear_forward"]
    print(f"rule: chatter <= {rule['max_chatter']}, at least {rule['min_chars']} characters")
    print(f"{'split':<10}{'urgent':>8}{'missed as non-request':>23}{'of those forwarded':>20}"
          f"{'missed requests fwd':>21}{'non-requests fwd':>19}")
    for split in ("tune", "holdout", "tune2", "holdout2", "all"):
        urgent = missed = recovered = lost_requests = nonreq = forwarded_chatter = 0
        for ex in load_corpus(split):
            u = understander.understand(ex.text)
            forward = (not u.is_request and u.scores.get("chatter", 0) <= rule["max_chatter"]
                       and len(ex.text.replace(" ", "")) >= rule["min_chars"])
            urgent += ex.urgency == "urgent"
            if ex.is_request and not u.is_request:
                lost_requests += forward
                if ex.urgency == "urgent":
                    missed += 1
                    recovered += forward
            if not ex.is_request:
                nonreq += 1
                forwarded_chatter += forward
        print(f"{split:<10}{urgent:>8}{missed:>23}{recovered:>20}{lost_requests:>21}"
              f"{f'{forwarded_chatter}/{nonreq}':>19}")


if __name__ == "__main__":
    main()
