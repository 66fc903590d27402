#!/usr/bin/env python3
"""Scores recommendations against a test split, with the definitions of
shared/data/README.md (written here independently of recstream):

users = those in both the test set and the output; per user, with the top k
recommended items and the user's test items T:
  precision@k = hits / k;  recall@k = hits / |T|;
  nDCG@k: binary relevance, ideal DCG over min(|T|, k);
  MAP: sum over hits of (hits so far / rank), divided by |T|;
each averaged over users.

usage: score_recs.py RECS.jsonl TEST.csv [--k 10]
"""
import csv
import json
import math
import sys


def main():
    args = sys.argv[1:]
    k = 10
    if "--k" in args:
        i = args.index("--k")
        k = int(args[i + 1])
        del args[i:i + 2]
    recs_path, test_path = args
    test = {}
    with open(test_path, newline="") as f:
        for row in csv.DictReader(f):
            test.setdefault(row["user_id"], set()).add(row["item_id"])
    recs = {}
    with open(recs_path) as f:
        for line in f:
            r = json.loads(line)
            recs[r["user_id"]] = [it["item_id"] for it in r["items"]][:k]
    users = [u for u in recs if u in test]
    if not users:
        sys.exit("no user is in both the output and the test set")
    prec = rec = ndcg = ap = 0.0
    for u in users:
        truth, top = test[u], recs[u]
        hits, dcg, sum_prec = 0, 0.0, 0.0
        for rank, item in enumerate(top, 1):
            if item in truth:
                hits += 1
                dcg += 1.0 / math.log2(rank + 1)
                sum_prec += hits / rank
        idcg = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(truth), k) + 1))
        prec += hits / k
        rec += hits / len(truth)
        ndcg += dcg / idcg
        ap += sum_prec / len(truth)
    n = len(users)
    print(f"map={ap / n:.4f} ndcg@{k}={ndcg / n:.4f} precision@{k}={prec / n:.4f} "
          f"recall@{k}={rec / n:.4f} users={n}")


if __name__ == "__main__":
    main()
