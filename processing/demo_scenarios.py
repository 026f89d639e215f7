"""Shifted demo batches, so monitoring can be seen at work without one's own data (`demo-data --scenario`).

Each scenario is the training demo data (demo_data.generate_messages: 8 categories at CATEGORY_WEIGHTS, half
Spanish, half English) with one thing moved; `shift_share` is the share of messages in the group that moved:
- normal: nothing moved; exactly generate_messages' output for the same arguments (no shift share);
- new-topic: exactly round(shift_share * rows) messages (default 15%) are about NEW_TOPIC, a category the training
  data never has (phishing texts, fake calls, stolen identity, marketplace scams); gold label NEW_TOPIC;
- language-shift: each message is Spanish with probability shift_share (default 10%), else English;
- category-shift: each message is about SHIFTED_CATEGORY with probability shift_share (default twice its training
  share: a courier strike), the other categories scaled down in proportion.
The new topic's messages go through demo_data's own compose and noise stages and replace rows of the normal batch
(which keep their id, time, source and user); the same rows as in the normal batch with the same seed are then
made malformed, for the same reasons, and every other row is the normal batch's. `df.attrs["scenario"]` says what
was shifted, `scenario_summary` says it in one line.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from processing import demo_data
from processing.demo_data import CATEGORY_WEIGHTS, DEFAULT_MALFORMED_SHARE, LANGUAGE_SHARES, generate_messages

SCENARIOS = {
    "normal": "the training mix: 8 categories, half Spanish, half English (no alarm expected)",
    "new-topic": "a share of the messages (default 15%) about fraud and scams, a category training never saw",
    "language-shift": "mostly English: a share of the messages (default 10%) in Spanish, the rest in English",
    "category-shift": "one category (delivery, a courier strike) at a share (default twice its training share)",
}
NEW_TOPIC = "fraud_scam"
SHIFTED_CATEGORY = "delivery"
DEFAULT_SHIFT_SHARES = {"new-topic": 0.15, "language-shift": 0.10,
                        "category-shift": 2 * CATEGORY_WEIGHTS[SHIFTED_CATEGORY]}

# The new topic, written like demo_data.TEMPLATES (lowercase, {slot} fields from demo_data.SLOTS, no "@", "#",
# URLs or emojis) but, unlike the known categories among themselves, in words none of them uses: what a bank and
# marketplace hears about scams shares little with charges, orders or logins.
NEW_TOPIC_TONE = "negative"
NEW_TOPIC_TEMPLATES: dict[str, list[str]] = {
    "es": [
        "me llegó un SMS a nombre de {brand} con un enlace sospechoso, es oficial?",
        "alguien llamó haciéndose pasar por {brand} y me pidió información personal",
        "me llegó un correo falso que imita a {brand}, lo denuncio como phishing",
        "un supuesto ejecutivo de {brand} me escribió por WhatsApp pidiendo mi DNI y una selfie",
        "sacaron un préstamo a mi nombre, alguien se hace pasar por mí",
        "un vendedor me pidió transferirle directo, sin pasar por la plataforma, y desapareció con {amount}",
        "hay un perfil falso de {brand} en redes regalando premios, cuidado que es estafa",
        "me avisaron que gané un sorteo de {brand} y tenía que pagar {amount} para reclamarlo",
        "intento de fraude: me contactó un número desconocido {day}",
        "esto es phishing? un SMS dice que hay un premio esperándome",
        "mi mamá cayó en una estafa telefónica, le sacaron {amount}",
        "me duplicaron el chip del teléfono y alguien recibe mis SMS",
        "cuidado, circula un enlace falso con el logo de {brand}",
        "fui víctima de un fraude, alguien usó mi nombre y mi DNI {day}",
        "quiero denunciar a un estafador que usa el nombre de {brand}",
        "me propusieron un empleo desde casa en nombre de {brand}, era una estafa piramidal",
        "un supuesto empleado quería que instalara un programa para controlar mi teléfono",
        "me robaron la información personal y ahora tengo deudas a mi nombre",
        "el enlace del SMS pedía mi DNI y el apellido de mi madre",
        "suplantaron mi nombre para pedir un préstamo de {amount} en {place}",
        "un estafador me mandó un comprobante falso de {amount} y quería que le devolviera el excedente",
        "me escribió un desconocido diciendo que era de seguridad de {brand}, es cierto?",
    ],
    "en": [
        "got a text claiming to be from {brand} with a suspicious link, is it legit?",
        "someone called pretending to be {brand} and asked for my personal details",
        "got a fake email imitating {brand}, reporting it as phishing",
        "a so-called {brand} executive messaged me on WhatsApp wanting my ID and a selfie",
        "someone got a loan in my name, they're impersonating me",
        "a seller wanted me to send money directly, off the platform, and vanished with {amount}",
        "there's a fake {brand} profile giving away prizes, watch out it's a scam",
        "they said I won a {brand} raffle and had to send {amount} to claim it",
        "fraud attempt: an unknown number contacted me {day}",
        "is this phishing? a text says a prize is waiting for me",
        "my mom fell for a telephone scam, they got {amount} out of her",
        "my SIM was swapped and someone is receiving my texts",
        "careful, a fake link with the {brand} logo is circulating",
        "I was a victim of fraud, someone applied for credit with my name and ID {day}",
        "I want to report a scammer using the {brand} name",
        "got a work-from-home job ad in {brand}'s name, it was a pyramid scheme",
        "a caller posing as a bank employee wanted me to install a remote control program on my mobile",
        "my personal details were leaked and now there are debts in my name",
        "the link in the text wanted my ID number and my mother's maiden name",
        "someone impersonated me to get a loan of {amount} in {place}",
        "a scammer sent me a fake receipt for {amount} and wanted me to send back the extra",
        "a stranger texted me saying he's from {brand} security, is that legit?",
    ],
}
NEW_TOPIC_FOLLOW_UPS: dict[str, list[str]] = {
    "es": ["esto es una estafa", "no caigan en esto", "cuidado con ese SMS", "ya hice la denuncia",
           "alguien más recibió esto?", "no di nada", "tengo miedo de que usen mi información",
           "avisen a la gente", "es un fraude clarísimo", "qué hago con esto?"],
    "en": ["this is a scam", "don't fall for it", "be careful with that text", "already filed a police report",
           "did somebody else get this?", "I didn't give them anything", "scared they'll misuse my details",
           "warn everyone", "obviously a fraud", "what do I do about this?"],
}
NEW_TOPIC_HASHTAGS = ["#estafa", "#fraude", "#ScamAlert", "#phishing"]
# Parsed as demo_data parses its own templates: (template, its slot names).
_NEW_TOPIC_TABLE = {NEW_TOPIC: {lang: [(t, tuple(f for _, f, _, _ in demo_data._FORMATTER.parse(t) if f))
                                       for t in templates]
                                for lang, templates in NEW_TOPIC_TEMPLATES.items()}}
# Its own random streams: the same seed gives the same batch, yet never repeats the normal batch's draws.
_NEW_TOPIC_STREAM = 0x5CA3


def generate_scenario(
    scenario: str,
    rows: int,
    seed: int = 0,
    malformed_share: float = DEFAULT_MALFORMED_SHARE,
    shift_share: float | None = None,
    *,
    include_lang: bool = False,
) -> pd.DataFrame:
    """`rows` demo messages of `scenario` (see SCENARIOS); the shift share defaults to DEFAULT_SHIFT_SHARES.

    `df.attrs["scenario"]`: {"name", "shift_share", "shifted": what moved, "messages": how many rows it holds}.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if scenario == "normal" and shift_share is not None:
        raise ValueError("a shift share applies to a shifted scenario, not to normal")
    share = DEFAULT_SHIFT_SHARES.get(scenario) if shift_share is None else float(shift_share)
    if share is not None and not 0.0 <= share <= 1.0:
        raise ValueError(f"shift share must be within [0, 1], got {share}")
    if scenario == "new-topic":
        df = new_topic_messages(rows, seed, malformed_share, share)
    else:
        df = generate_messages(rows, seed, malformed_share, _category_mix(scenario, share), include_lang=True,
                               languages=_language_mix(scenario, share))
    shifted = _what_shifted(scenario, share, df)
    if not include_lang:
        df = df.drop(columns="lang")
    df.attrs["scenario"] = shifted
    return df


def _category_mix(scenario: str, share: float | None) -> dict[str, float] | None:
    """Category weights: SHIFTED_CATEGORY at `share` and the others in their training proportions (category-shift)."""
    if scenario != "category-shift":
        return None
    rest = 1.0 - CATEGORY_WEIGHTS[SHIFTED_CATEGORY]
    return {c: share if c == SHIFTED_CATEGORY else w * (1.0 - share) / rest for c, w in CATEGORY_WEIGHTS.items()}


def _language_mix(scenario: str, share: float | None) -> dict[str, float] | None:
    """Language weights: Spanish at `share`, English the rest (language-shift)."""
    return {"es": share, "en": 1.0 - share} if scenario == "language-shift" else None


def new_topic_messages(rows: int, seed: int, malformed_share: float, share: float) -> pd.DataFrame:
    """The normal batch with exactly round(share * rows) rows replaced by NEW_TOPIC messages (with `lang`)."""
    normal = generate_messages(rows, seed, malformed_share=0.0, include_lang=True)
    columns = {f: normal[f].to_numpy(dtype=object, copy=True) for f in normal.columns}
    streams = _stage_generators(np.random.SeedSequence([seed, _NEW_TOPIC_STREAM]))
    picked = np.sort(streams["meta"].choice(rows, size=round(share * rows), replace=False))
    texts, labels, langs = _new_topic_texts(streams, columns["lang"][picked], columns["source"][picked])
    columns["text"][picked], columns["label"][picked], columns["lang"][picked] = texts, labels, langs
    # The malformed stage again, with the generator generate_messages gives it: the same rows break for the same
    # reasons as in the normal batch (new-topic rows among them, as in a real stream). Only the details (where a
    # control character goes, which id is repeated) may differ once a draw depends on a replaced text's length.
    malformed = _stage_generators(np.random.SeedSequence(seed))["malformed"]
    counts = demo_data._inject_malformed(malformed, columns, round(malformed_share * rows))
    df = pd.DataFrame({f: columns[f] for f in normal.columns})
    df.attrs["malformed_counts"] = counts
    return df


def _new_topic_texts(streams: dict[str, np.random.Generator], langs: np.ndarray,
                     sources: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NEW_TOPIC messages in the given languages, composed and noised by demo_data's own stages: texts, labels,
    languages (copies among them carry their source's label and language, as in generate_messages)."""
    cats = np.full(len(langs), NEW_TOPIC, dtype=object)
    tones = np.full(len(langs), NEW_TOPIC_TONE, dtype=object)
    texts = demo_data._compose(streams["compose"], cats, langs, _NEW_TOPIC_TABLE,
                               {NEW_TOPIC: NEW_TOPIC_FOLLOW_UPS}, {NEW_TOPIC: NEW_TOPIC_TONE})
    labels, lang_col = cats.copy(), langs.copy()
    demo_data._add_noise(streams, demo_data._noise_rates(None), texts, cats, langs, tones, sources,
                         [labels, lang_col], {NEW_TOPIC: NEW_TOPIC_HASHTAGS})
    return texts, labels, lang_col


def _stage_generators(seed_sequence: np.random.SeedSequence) -> dict[str, np.random.Generator]:
    """One generator per demo_data stage, spawned as generate_messages spawns them from its seed."""
    children = seed_sequence.spawn(len(demo_data._STAGES))
    return {stage: np.random.default_rng(child) for stage, child in zip(demo_data._STAGES, children)}


def _what_shifted(scenario: str, share: float | None, df: pd.DataFrame) -> dict:
    """The df.attrs["scenario"] record: the scenario, its share, what moved and how many rows now hold it."""
    if scenario == "normal":
        return {"name": scenario, "shift_share": None, "shifted": None, "messages": 0}
    if scenario == "language-shift":
        shifted, messages = "es", int((df["lang"] == "es").sum())
    else:
        shifted = NEW_TOPIC if scenario == "new-topic" else SHIFTED_CATEGORY
        messages = int((df["label"] == shifted).sum())
    return {"name": scenario, "shift_share": share, "shifted": shifted, "messages": messages}


def scenario_summary(attrs: dict, rows: int) -> str:
    """One line on what a batch of `rows` made with df.attrs `attrs` shifted ("" for a normal batch)."""
    what = attrs.get("scenario") or {}
    if what.get("name", "normal") == "normal":
        return ""
    count = what["messages"]
    percent = f"{count / rows:.0%}" if rows else "0%"
    if what["name"] == "new-topic":
        return f"scenario new-topic: {count} messages ({percent}) of the new category {NEW_TOPIC}"
    if what["name"] == "language-shift":
        return (f"scenario language-shift: {count} messages ({percent}) in Spanish, the rest in English "
                f"(training: {LANGUAGE_SHARES['es']:.0%} Spanish)")
    return (f"scenario category-shift: {count} messages ({percent}) in {SHIFTED_CATEGORY} "
            f"(training: {CATEGORY_WEIGHTS[SHIFTED_CATEGORY]:.0%})")
