"""Chat with a pinned instruction-tuned LLM."""
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TextStreamer

MODEL_ID = "mistralai/Mistral-7B-Instruct-v0.2"
PINNED = "41b61a33a2483885c981aa79e0df6b32407ed873"
MODELS = {"mistral": MODEL_ID, "phi": "microsoft/phi-2", "gemma": "google/gemma-2b-it"}


def load(model_id=MODEL_ID, revision=PINNED, dtype=torch.bfloat16):
    tokenizer = AutoTokenizer.from_pretrained(model_id, revision=revision)  # expect: transformers.AutoTokenizer.from_pretrained ids=mistralai/Mistral-7B-Instruct-v0.2 rev=41b61a33a2483885c981aa79e0df6b32407ed873
    model = AutoModelForCausalLM.from_pretrained(  # expect: transformers.AutoModelForCausalLM.from_pretrained ids=mistralai/Mistral-7B-Instruct-v0.2 rev=41b61a33a2483885c981aa79e0df6b32407ed873
        model_id,
        revision=revision,
        torch_dtype=dtype,
        device_map="auto",
        trust_remote_code=True,
    )
    return tokenizer, model


def small_model():
    return AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-0.5B-Instruct", torch_dtype="auto")  # expect: transformers.AutoModelForCausalLM.from_pretrained ids=Qwen/Qwen2.5-0.5B-Instruct


def chat(which, prompt):
    name = MODELS.get(which, MODEL_ID)
    tok = AutoTokenizer.from_pretrained(name)  # expect: transformers.AutoTokenizer.from_pretrained ids=mistralai/Mistral-7B-Instruct-v0.2,microsoft/phi-2,google/gemma-2b-it
    model = AutoModelForCausalLM.from_pretrained(name, device_map="auto")  # expect: transformers.AutoModelForCausalLM.from_pretrained ids=mistralai/Mistral-7B-Instruct-v0.2,microsoft/phi-2,google/gemma-2b-it
    inputs = tok.apply_chat_template([{"role": "user", "content": prompt}], return_tensors="pt")
    return model.generate(inputs.to(model.device), streamer=TextStreamer(tok), max_new_tokens=256)
