"""Hyper-parameter sweep over encoders with Weights & Biases."""
import wandb
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

SWEEP = {
    "method": "grid",
    "metric": {"name": "eval_loss", "goal": "minimize"},
    "parameters": {
        "model": {"values": ["google/electra-small-discriminator", "huawei-noah/TinyBERT_General_4L_312D"]},
        "lr": {"values": [2e-5, 5e-5]},
    },
}


def train():
    run = wandb.init()
    name = wandb.config.model
    tokenizer = AutoTokenizer.from_pretrained(name)  # expect: transformers.AutoTokenizer.from_pretrained ids=google/electra-small-discriminator,huawei-noah/TinyBERT_General_4L_312D scan-ids=?
    model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=2)  # expect: transformers.AutoModelForSequenceClassification.from_pretrained ids=google/electra-small-discriminator,huawei-noah/TinyBERT_General_4L_312D scan-ids=?
    args = TrainingArguments(output_dir=f"out/{run.id}", learning_rate=wandb.config.lr, report_to="wandb")
    Trainer(model=model, args=args, tokenizer=tokenizer).train()


if __name__ == "__main__":
    sweep_id = wandb.sweep(SWEEP, project="encoder-sweep")
    wandb.agent(sweep_id, train)
