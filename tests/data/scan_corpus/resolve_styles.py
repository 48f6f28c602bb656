"""Model names built every way a constant can be built."""
import os

from transformers import AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer, T5Tokenizer

HF_ORG = "google"
T5_SIZE = "base"
T5_NAME = HF_ORG + "/flan-t5-" + T5_SIZE
MT_TEMPLATE = "Helsinki-NLP/opus-mt-%s-%s"
BART = "facebook/{}".format("bart-large")
CACHE = os.getenv("MODEL_CACHE", "/tmp/models")
DEFAULT_ENCODER = "intfloat/e5-base-v2"
DEFAULT_ENCODER = "intfloat/e5-large-v2"  # v2 of the paper uses the large encoder


def t5():
    return AutoModelForSeq2SeqLM.from_pretrained(T5_NAME), T5Tokenizer.from_pretrained(T5_NAME, legacy=False)  # expect: transformers.AutoModelForSeq2SeqLM.from_pretrained ids=google/flan-t5-base # expect: transformers.T5Tokenizer.from_pretrained ids=google/flan-t5-base


def translator(src="en", tgt="de"):
    name = MT_TEMPLATE % (src, tgt)
    return AutoModelForSeq2SeqLM.from_pretrained(name)  # expect: transformers.AutoModelForSeq2SeqLM.from_pretrained ids=Helsinki-NLP/opus-mt-en-de,Helsinki-NLP/opus-mt-en-fr


def bart():
    return AutoModel.from_pretrained(BART)  # expect: transformers.AutoModel.from_pretrained ids=facebook/bart-large


def encoder(name=None):
    if name is None:
        name = DEFAULT_ENCODER
    return AutoModel.from_pretrained(name)  # expect: transformers.AutoModel.from_pretrained ids=intfloat/e5-large-v2


def encoder_or_default(name=None):
    return AutoModel.from_pretrained(name or "thenlper/gte-base")  # expect: transformers.AutoModel.from_pretrained ids=thenlper/gte-base


def env_model():
    model_id = os.environ.get("ENCODER_ID", "BAAI/bge-base-en-v1.5")
    return AutoModel.from_pretrained(model_id)  # expect: transformers.AutoModel.from_pretrained ids=BAAI/bge-base-en-v1.5


def getenv_tokenizer():
    return AutoTokenizer.from_pretrained(os.getenv("TOKENIZER", "FacebookAI/xlm-roberta-base"))  # expect: transformers.AutoTokenizer.from_pretrained ids=FacebookAI/xlm-roberta-base


def t5_v11(size="small"):
    return AutoModel.from_pretrained(f"google/t5-v1_1-{size}")  # expect: transformers.AutoModel.from_pretrained ids=google/t5-v1_1-small,google/t5-v1_1-large


def roberta(large=False):
    return AutoModel.from_pretrained("FacebookAI/roberta-large" if large else "FacebookAI/roberta-base")  # expect: transformers.AutoModel.from_pretrained ids=FacebookAI/roberta-large,FacebookAI/roberta-base


def squad_tokenizer():
    checkpoint = "distilbert/distilbert-base-cased-distilled-squad"
    return AutoTokenizer.from_pretrained(checkpoint)  # expect: transformers.AutoTokenizer.from_pretrained ids=distilbert/distilbert-base-cased-distilled-squad


def reassigned_local():
    model_name = "google-bert/bert-base-cased"
    model_name = "google-bert/bert-large-cased"
    return AutoModel.from_pretrained(model_name)  # expect: transformers.AutoModel.from_pretrained ids=google-bert/bert-large-cased


def legal_bert():
    return AutoModel.from_pretrained(pretrained_model_name_or_path="nlpaueb/legal-bert-base-uncased", cache_dir=CACHE)  # expect: transformers.AutoModel.from_pretrained ids=nlpaueb/legal-bert-base-uncased


def keyed(kind="small"):
    names = dict(small="google/bert_uncased_L-2_H-128_A-2", large="google-bert/bert-large-uncased")
    return AutoModel.from_pretrained(names[kind])  # expect: transformers.AutoModel.from_pretrained ids=google/bert_uncased_L-2_H-128_A-2,google-bert/bert-large-uncased


def joined(org="microsoft", name="codebert-base"):
    return AutoModel.from_pretrained("/".join([org, name]))  # expect: transformers.AutoModel.from_pretrained ids=microsoft/codebert-base


if __name__ == "__main__":
    translator("en", "fr")
    t5_v11("large")
