"""QLoRA fine-tuning and adapter inference."""
import torch
from peft import AutoPeftModelForCausalLM, LoraConfig, PeftConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

BASE_MODEL = "meta-llama/Llama-2-7b-hf"
ADAPTER = "timdettmers/guanaco-7b"


def load_for_training(base=BASE_MODEL):
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(base, quantization_config=bnb, device_map="auto")  # expect: transformers.AutoModelForCausalLM.from_pretrained ids=meta-llama/Llama-2-7b-hf
    model = prepare_model_for_kbit_training(model)
    tokenizer = AutoTokenizer.from_pretrained(base, use_fast=False)  # expect: transformers.AutoTokenizer.from_pretrained ids=meta-llama/Llama-2-7b-hf
    tokenizer.pad_token = tokenizer.eos_token
    config = LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"], lora_dropout=0.05, task_type="CAUSAL_LM")
    return get_peft_model(model, config), tokenizer


def load_for_inference(adapter_id=ADAPTER):
    peft_config = PeftConfig.from_pretrained(adapter_id)  # expect: peft.PeftConfig.from_pretrained ids=timdettmers/guanaco-7b
    base = AutoModelForCausalLM.from_pretrained(peft_config.base_model_name_or_path, torch_dtype=torch.float16)  # expect: transformers.AutoModelForCausalLM.from_pretrained ids=?
    model = PeftModel.from_pretrained(base, adapter_id, revision="8a7a6c5")  # expect: peft.PeftModel.from_pretrained ids=timdettmers/guanaco-7b rev=8a7a6c5
    return model.merge_and_unload()


def load_merged(path="tloen/alpaca-lora-7b"):
    return AutoPeftModelForCausalLM.from_pretrained(path, device_map="auto")  # expect: peft.AutoPeftModelForCausalLM.from_pretrained ids=tloen/alpaca-lora-7b


def save(model, out_dir="outputs/lora-adapter"):
    model.save_pretrained(out_dir)
    reloaded = PeftModel.from_pretrained(model.base_model, out_dir)
    return reloaded
