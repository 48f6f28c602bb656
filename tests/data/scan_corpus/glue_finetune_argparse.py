#!/usr/bin/env python
"""Fine-tune a sequence classifier on a GLUE task.

    python glue_finetune_argparse.py --model_name_or_path bert-base-uncased --task sst2

The classifier head is added by AutoModelForSequenceClassification.from_pretrained(...).
"""
import argparse
import logging
import os

import numpy as np
from datasets import load_dataset
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)

logger = logging.getLogger(__name__)

TASK_TO_KEYS = {
    "cola": ("sentence", None),
    "sst2": ("sentence", None),
    "mrpc": ("sentence1", "sentence2"),
    "qnli": ("question", "sentence"),
}


def parse_args():
    parser = argparse.ArgumentParser(description="Finetune a transformers model on a GLUE task")
    parser.add_argument("--task", type=str, default="sst2", choices=list(TASK_TO_KEYS))
    parser.add_argument(
        "--model_name_or_path",
        type=str,
        default="bert-base-uncased",
        help="Path to pretrained model or model identifier from huggingface.co/models.",
    )
    parser.add_argument(
        "--tokenizer_name",
        type=str,
        default=None,
        help="Pretrained tokenizer name or path if not the same as model_name",
    )
    parser.add_argument("--revision", type=str, default="main", help="Model revision (branch, tag or commit)")
    parser.add_argument("--output_dir", type=str, default="./outputs/glue")
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--eval_only", action="store_true")
    return parser.parse_args()


def main():
    args = parse_args()
    set_seed(args.seed)
    raw = load_dataset("glue", args.task)
    labels = raw["train"].features["label"].names

    config = AutoConfig.from_pretrained(args.model_name_or_path, num_labels=len(labels), revision=args.revision)  # expect: transformers.AutoConfig.from_pretrained ids=google-bert/bert-base-uncased rev=main
    tokenizer = AutoTokenizer.from_pretrained(  # expect: transformers.AutoTokenizer.from_pretrained ids=google-bert/bert-base-uncased rev=main
        args.tokenizer_name if args.tokenizer_name else args.model_name_or_path,
        use_fast=True,
        revision=args.revision,
    )
    model = AutoModelForSequenceClassification.from_pretrained(  # expect: transformers.AutoModelForSequenceClassification.from_pretrained ids=google-bert/bert-base-uncased rev=main
        args.model_name_or_path,
        from_tf=bool(".ckpt" in args.model_name_or_path),
        config=config,
        revision=args.revision,
    )

    key1, key2 = TASK_TO_KEYS[args.task]

    def preprocess(examples):
        texts = (examples[key1],) if key2 is None else (examples[key1], examples[key2])
        return tokenizer(*texts, padding=False, max_length=args.max_length, truncation=True)

    encoded = raw.map(preprocess, batched=True)
    training_args = TrainingArguments(output_dir=args.output_dir, evaluation_strategy="epoch", seed=args.seed)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    if not args.eval_only:
        trainer.train()
        trainer.save_model(args.output_dir)
        tokenizer.save_pretrained(args.output_dir)

    # reload what we just saved and check it still predicts
    best = AutoModelForSequenceClassification.from_pretrained(args.output_dir)
    metrics = trainer.evaluate()
    logger.info("eval: %s (best model has %d params)", metrics, best.num_parameters())
    np.save(os.path.join(args.output_dir, "metrics.npy"), metrics)


if __name__ == "__main__":
    main()
