import argparse

from huggingface_hub import snapshot_download

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--out", default="/models")
args = parser.parse_args()
snapshot_download(args.model, local_dir=f"{args.out}/{args.model.split('/')[-1]}")
