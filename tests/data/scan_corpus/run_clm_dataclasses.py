"""Causal language modelling with HfArgumentParser dataclasses (the run_clm.py layout)."""
import logging
import sys
from dataclasses import dataclass, field
from typing import Optional

import datasets
import transformers
from transformers import (
    CONFIG_MAPPING,
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    default_data_collator,
)

logger = logging.getLogger(__name__)


@dataclass
class ModelArguments:
    model_name_or_path: Optional[str] = field(
        default="openai-community/gpt2",
        metadata={"help": "The model checkpoint for weights initialization."},
    )
    model_type: Optional[str] = field(default=None, metadata={"help": "If training from scratch, a model type."})
    config_name: Optional[str] = field(
        default=None, metadata={"help": "Pretrained config name or path if not the same as model_name"}
    )
    tokenizer_name: Optional[str] = field(
        default=None, metadata={"help": "Pretrained tokenizer name or path if not the same as model_name"}
    )
    model_revision: str = field(
        default="main",
        metadata={"help": "The specific model version to use (can be a branch name, tag name or commit id)."},
    )
    token: str = field(default=None)
    trust_remote_code: bool = field(default=False)


@dataclass
class DataTrainingArguments:
    dataset_name: Optional[str] = field(default="wikitext")
    dataset_config_name: Optional[str] = field(default="wikitext-2-raw-v1")
    block_size: Optional[int] = field(default=512)


def main():
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments))
    if len(sys.argv) == 2 and sys.argv[1].endswith(".json"):
        model_args, data_args, training_args = parser.parse_json_file(json_file=sys.argv[1])
    else:
        model_args, data_args, training_args = parser.parse_args_into_dataclasses()

    transformers.utils.logging.set_verbosity_info()
    raw_datasets = datasets.load_dataset(data_args.dataset_name, data_args.dataset_config_name)

    config_kwargs = {
        "revision": model_args.model_revision,
        "token": model_args.token,
        "trust_remote_code": model_args.trust_remote_code,
    }
    if model_args.config_name:
        config = AutoConfig.from_pretrained(model_args.config_name, **config_kwargs)  # expect: transformers.AutoConfig.from_pretrained ids=? rev=main
    elif model_args.model_name_or_path:
        config = AutoConfig.from_pretrained(model_args.model_name_or_path, **config_kwargs)  # expect: transformers.AutoConfig.from_pretrained ids=openai-community/gpt2 rev=main
    else:
        config = CONFIG_MAPPING[model_args.model_type]()
        logger.warning("You are instantiating a new config instance from scratch.")

    tokenizer_kwargs = {"use_fast": True, "revision": model_args.model_revision, "token": model_args.token}
    if model_args.tokenizer_name:
        tokenizer = AutoTokenizer.from_pretrained(model_args.tokenizer_name, **tokenizer_kwargs)  # expect: transformers.AutoTokenizer.from_pretrained ids=? rev=main
    elif model_args.model_name_or_path:
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, **tokenizer_kwargs)  # expect: transformers.AutoTokenizer.from_pretrained ids=openai-community/gpt2 rev=main
    else:
        raise ValueError("Instantiating a new tokenizer from scratch is not supported by this script.")

    if model_args.model_name_or_path:
        model = AutoModelForCausalLM.from_pretrained(  # expect: transformers.AutoModelForCausalLM.from_pretrained ids=openai-community/gpt2 rev=main
            model_args.model_name_or_path,
            from_tf=bool(".ckpt" in model_args.model_name_or_path),
            config=config,
            revision=model_args.model_revision,
            token=model_args.token,
            trust_remote_code=model_args.trust_remote_code,
        )
    else:
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=model_args.trust_remote_code)

    def tokenize(examples):
        return tokenizer(examples["text"])

    tokenized = raw_datasets.map(tokenize, batched=True, remove_columns=["text"])
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        data_collator=default_data_collator,
    )
    trainer.train()


if __name__ == "__main__":
    main()
