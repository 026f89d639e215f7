"""Synthetic messages for the monitoring specifications: topics made of their own words (Spanish and English),
predictions whose correctness follows their confidence, and a cheap `embed` (TF-IDF + truncated SVD) in place
of the spaCy cleaning and the product's featurizer, so the statistics are tested in seconds."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

TOPICS = {
    "billing": "factura cobro pago recibo importe invoice charge refund payment amount iva tarifa".split(),
    "cards": "tarjeta bloqueada pin cajero límite card blocked atm contactless débito crédito caducada".split(),
    "delivery": "envío paquete entrega retraso repartidor parcel shipping courier tracking dirección llegó".split(),
}
NEW_TOPIC = {"fraud": "estafa fraude phishing suplantación sospechoso scam hacked robo fraudulento".split()}
COMMON = "hola gracias please help cuenta app ayuda hoy problema".split()


def synthetic_messages(rows: int, seed: int, topics: dict[str, list[str]] = TOPICS, prefix: str = "m") -> pd.DataFrame:
    """Messages of the given topics (equal shares): four topic words and two common words each, es/en at random;
    the columns of a pseudo-labelled split (id, text, lang, feature_text, category)."""
    rng = np.random.default_rng(seed)
    names = list(topics)
    categories = rng.choice(names, size=rows)
    texts = [" ".join([*rng.choice(topics[c], 4, replace=False), *rng.choice(COMMON, 2, replace=False)])
             for c in categories]
    return pd.DataFrame({"id": [f"{prefix}{seed}-{i}" for i in range(rows)], "text": texts,
                         "lang": rng.choice(["es", "en"], size=rows), "feature_text": texts,
                         "category": categories.astype(object)})


def synthetic_predictions(messages: pd.DataFrame, seed: int, known: list[str] = list(TOPICS)) -> pd.DataFrame:
    """Predictions as the handlers make them: right with probability `confidence`, otherwise another known
    category; messages of an unknown category get a known one with low confidence and are flagged novel."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.6, 1.0, size=len(messages))
    truth = messages["category"].to_numpy(dtype=object)
    unknown = ~np.isin(truth, known)
    confidence[unknown] = rng.uniform(0.3, 0.5, size=unknown.sum())
    right = (rng.random(len(messages)) < confidence) & ~unknown
    other = np.array([rng.choice([c for c in known if c != t]) for t in truth], dtype=object)
    return pd.DataFrame({"id": messages["id"], "category": np.where(right, truth, other),
                         "confidence": confidence.round(6), "novel": unknown | (confidence < 0.4),
                         "model_version": "1", "category_map_version": "1", "error": None}).astype(object)


def fitted_embedding(texts: list[str], dimensions: int = 40, seed: int = 0):
    """An `embed` function (frame of id, text, lang -> feature_text, unit vectors) fitted on some texts.
    Character n-grams, as in the product's TF-IDF featurizer: words unseen at fitting still move the vector."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit(texts)
    svd = TruncatedSVD(dimensions, random_state=seed).fit(vectorizer.transform(texts))

    def embed(frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        feature_texts = frame["text"].fillna("").astype(str).str.lower().tolist()
        return feature_texts, normalize(svd.transform(vectorizer.transform(feature_texts)))
    return embed
