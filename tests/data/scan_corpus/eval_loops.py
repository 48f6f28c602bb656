"""Compare sentiment checkpoints on the same test set."""
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

CANDIDATES = [
    "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    "textattack/bert-base-uncased-SST-2",
    "cardiffnlp/twitter-roberta-base-sentiment-latest",
]
NLI = [("FacebookAI/roberta-large-mnli", 3), ("microsoft/deberta-large-mnli", 3)]
SMALL = ["prajjwal1/bert-tiny"]
LARGE = ["google-bert/bert-large-uncased"]


@torch.no_grad()
def evaluate_all(texts, labels):
    scores = {}
    for name in CANDIDATES:
        tok = AutoTokenizer.from_pretrained(name)  # expect: transformers.AutoTokenizer.from_pretrained ids=distilbert/distilbert-base-uncased-finetuned-sst-2-english,textattack/bert-base-uncased-SST-2,cardiffnlp/twitter-roberta-base-sentiment-latest
        model = AutoModelForSequenceClassification.from_pretrained(name).eval()  # expect: transformers.AutoModelForSequenceClassification.from_pretrained ids=distilbert/distilbert-base-uncased-finetuned-sst-2-english,textattack/bert-base-uncased-SST-2,cardiffnlp/twitter-roberta-base-sentiment-latest
        preds = model(**tok(texts, padding=True, return_tensors="pt")).logits.argmax(-1)
        scores[name] = (preds == torch.tensor(labels)).float().mean().item()
    return scores


def nli_models():
    out = []
    for i, (name, n_labels) in enumerate(NLI):
        out.append(AutoModelForSequenceClassification.from_pretrained(name, num_labels=n_labels))  # expect: transformers.AutoModelForSequenceClassification.from_pretrained ids=FacebookAI/roberta-large-mnli,microsoft/deberta-large-mnli
    return out


def size_sweep():
    for name in SMALL + LARGE:
        yield AutoTokenizer.from_pretrained(name)  # expect: transformers.AutoTokenizer.from_pretrained ids=prajjwal1/bert-tiny,google-bert/bert-large-uncased
    for name in [*SMALL, "google/electra-small-discriminator"]:
        yield AutoTokenizer.from_pretrained(name)  # expect: transformers.AutoTokenizer.from_pretrained ids=prajjwal1/bert-tiny,google/electra-small-discriminator


def gpt_tokenizers():
    return {n: AutoTokenizer.from_pretrained(n) for n in ("openai-community/gpt2", "distilbert/distilgpt2")}  # expect: transformers.AutoTokenizer.from_pretrained ids=openai-community/gpt2,distilbert/distilgpt2


def all_models():
    return list(map(AutoModelForSequenceClassification.from_pretrained, CANDIDATES))  # expect: transformers.AutoModelForSequenceClassification.from_pretrained ids=distilbert/distilbert-base-uncased-finetuned-sst-2-english,textattack/bert-base-uncased-SST-2,cardiffnlp/twitter-roberta-base-sentiment-latest missed
