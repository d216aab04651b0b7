"""Regenerate tests/data/recipes/dapo-math-17k.parquet: 8 DAPO-style problems x 3 copies + bad rows at 5, 12, 20."""
import pyarrow as pa, pyarrow.parquet as pq
P = ("Solve the following math problem step by step. The last line of your response should be of the form "
     "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n")
S = '\n\nRemember to put your answer on its own line after "Answer:".'
probs = [("What is %d + %d?" % (i, i + 1), str(2 * i + 1)) for i in range(7)] + [("Compute -3 - 4.", "-7")]
rows = []
for rep in range(3):
    for k, (q, a) in enumerate(probs):
        rows.append({"data_source": "math_dapo", "prompt": [{"role": "user", "content": P + q + S}],
                     "ability": "MATH", "reward_model": {"ground_truth": a, "style": "rule-lighteval/MATH_v2"},
                     "extra_info": {"index": "uid-%d-%d" % (rep, k)}})
# bad rows at known positions
rows.insert(5, {"data_source": "math_dapo", "prompt": [{"role": "user", "content": P + "No answer here." + S}],
                "ability": "MATH", "reward_model": {"ground_truth": None, "style": "rule"}, "extra_info": {"index": "bad-1"}})
rows.insert(12, {"data_source": "math_dapo", "prompt": [], "ability": "MATH",
                 "reward_model": {"ground_truth": "3", "style": "rule"}, "extra_info": {"index": "bad-2"}})
rows.insert(20, {"data_source": "math_dapo", "prompt": [{"role": "user", "content": "   "}], "ability": "MATH",
                 "reward_model": {"ground_truth": "4", "style": "rule"}, "extra_info": {"index": "bad-3"}})
import pathlib
pq.write_table(pa.Table.from_pylist(rows), pathlib.Path(__file__).with_name("dapo-math-17k.parquet"))
print(len(rows))
