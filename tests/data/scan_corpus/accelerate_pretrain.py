"""Multi-GPU continued pre-training with accelerate."""
import math
import os

import torch
from accelerate import Accelerator
from huggingface_hub import snapshot_download
from torch.utils.data import DataLoader
from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling, get_scheduler


class Config:
    model_name_or_path = "FacebookAI/roberta-base"
    tokenizer_name = None
    output_dir = "runs/roberta-domain"
    lr = 5e-5
    epochs = 3


def main(config=Config()):
    accelerator = Accelerator(mixed_precision="bf16")
    if accelerator.is_main_process:
        snapshot_download(config.model_name_or_path, allow_patterns=["*.json", "*.safetensors", "*.txt"])  # expect: huggingface_hub.snapshot_download ids=FacebookAI/roberta-base
    accelerator.wait_for_everyone()

    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer_name or config.model_name_or_path)  # expect: transformers.AutoTokenizer.from_pretrained ids=FacebookAI/roberta-base
    model = AutoModelForMaskedLM.from_pretrained(config.model_name_or_path)  # expect: transformers.AutoModelForMaskedLM.from_pretrained ids=FacebookAI/roberta-base
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    loader = DataLoader([], batch_size=8, collate_fn=collator)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    scheduler = get_scheduler("linear", optimizer, 0, config.epochs * max(len(loader), 1))
    for _ in range(config.epochs):
        for batch in loader:
            loss = model(**batch).loss
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    accelerator.unwrap_model(model).save_pretrained(config.output_dir, save_function=accelerator.save)
    os.makedirs(config.output_dir, exist_ok=True)
    print(math.exp(loss.item()))


if __name__ == "__main__":
    main()
