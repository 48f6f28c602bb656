"""Named-entity tagging from the command line."""
import click
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline


@click.command()
@click.option(
    "--model-name",
    default="dslim/bert-base-NER",
    type=click.Choice(["dslim/bert-base-NER", "Jean-Baptiste/camembert-ner"]),
    show_default=True,
)
@click.option("--aggregation", default="simple")
@click.argument("text")
def ner(model_name, aggregation, text):
    tokenizer = AutoTokenizer.from_pretrained(model_name)  # expect: transformers.AutoTokenizer.from_pretrained ids=dslim/bert-base-NER,Jean-Baptiste/camembert-ner
    model = AutoModelForTokenClassification.from_pretrained(model_name)  # expect: transformers.AutoModelForTokenClassification.from_pretrained ids=dslim/bert-base-NER,Jean-Baptiste/camembert-ner
    tagger = pipeline("ner", model=model, tokenizer=tokenizer, aggregation_strategy=aggregation)
    for entity in tagger(text):
        click.echo(f"{entity['entity_group']}\t{entity['word']}")


if __name__ == "__main__":
    ner()
