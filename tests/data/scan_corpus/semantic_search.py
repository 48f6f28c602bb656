"""Retrieve-then-rerank over a document store."""
import sentence_transformers as st
from sentence_transformers import CrossEncoder, SentenceTransformer, util


class Retriever:
    EMBEDDER = "all-MiniLM-L6-v2"
    RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"

    def __init__(self, embedder=None, device="cpu"):
        self.embedder_name = embedder or self.EMBEDDER
        self.model = SentenceTransformer(self.embedder_name, device=device)  # expect: sentence_transformers.SentenceTransformer ids=sentence-transformers/multi-qa-MiniLM-L6-cos-v1,sentence-transformers/all-MiniLM-L6-v2
        self.reranker = CrossEncoder(self.RERANKER, max_length=512)  # expect: sentence_transformers.CrossEncoder ids=cross-encoder/ms-marco-MiniLM-L-6-v2

    def search(self, query, corpus, top_k=10):
        corpus_emb = self.model.encode(corpus, convert_to_tensor=True)
        query_emb = self.model.encode(query, convert_to_tensor=True)
        hits = util.semantic_search(query_emb, corpus_emb, top_k=top_k)[0]
        pairs = [(query, corpus[h["corpus_id"]]) for h in hits]
        scores = self.reranker.predict(pairs)
        return sorted(zip(scores, pairs), reverse=True)


def multilingual():
    return st.SentenceTransformer("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", revision="v2.0")  # expect: sentence_transformers.SentenceTransformer ids=sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2 rev=v2.0


def finetuned():
    return SentenceTransformer("output/finetuned-mpnet/checkpoint-500")


def from_modules(word_embedding_model, pooling_model):
    return SentenceTransformer(modules=[word_embedding_model, pooling_model])


if __name__ == "__main__":
    retriever = Retriever(embedder="multi-qa-MiniLM-L6-cos-v1")
    print(retriever.search("what is ptmlock?", ["a lockfile for models", "a web framework"]))
