"""Seeded synthetic demo data: Spanish/English customer messages with the noise and defects of a real stream.

The README's main command and many tests run on this data, so it has to be realistic enough for clustering to
find the categories, yet generated entirely by our own templates (no third-party texts are copied).

How a batch is made (`generate_messages`), in this order:
1. compose: pick a category, a language and a template per row, fill its slots (products, amounts, days,
   order numbers...), add an optional follow-up clause on the same topic, opener ("hola", "hey") and closer
   ("gracias", "please help");
2. code-switching: mix some English into Spanish rows and vice versa;
3. noise at the rates in NOISE_RATES (mentions, hashtags, emojis, URLs, elongations, ALL CAPS, typos,
   retweets, exact and near duplicates);
4. malformed rows (MALFORMED_REASONS) replacing `malformed_share` of the rows; each is what one
   contract.QUARANTINE_REASONS entry describes.
Rows that only raw bytes can express (invalid UTF-8, broken JSON lines, wrong CSV field counts) are added
by `write_demo_data(..., raw_defects=True)`.

Every random choice comes from numpy generators seeded by `seed`; each stage has its own child generator, so
changing one rate (``noise={"typo": 0}``) leaves every other choice unchanged.
"""
from __future__ import annotations

import json
import os
import re
import string
import uuid
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from processing import contract

BRAND = "Lumo"  # a fictional digital bank + marketplace: it has cards, an app, orders and deliveries

# The business categories (gold `label` values) with one-line descriptions.
CATEGORIES: dict[str, str] = {
    "billing": "Billing and charges: unexpected, duplicated or wrong charges, invoices, fees.",
    "delivery": "Delivery and shipping: late, lost, damaged or wrong orders, tracking.",
    "account_access": "Card and account access: login, passwords, verification codes, blocked cards or accounts.",
    "technical_issue": "App or website problems: crashes, errors, slowness, features that do not work.",
    "cancellation_refund": "Cancellations, returns and refunds: cancelling orders or plans, getting money back.",
    "praise": "Praise and compliments: thanks and positive experiences.",
    "pricing_offers": "Pricing and offers: questions about prices, plans, fees, discounts and promotions.",
    "customer_service": "Customer service complaints: waiting times, no answer, unhelpful or rude agents.",
}

# Real streams are imbalanced: complaints dominate, praise and questions are rarer.
CATEGORY_WEIGHTS = {
    "billing": 0.15, "delivery": 0.16, "account_access": 0.13, "technical_issue": 0.15,
    "cancellation_refund": 0.12, "praise": 0.08, "pricing_offers": 0.09, "customer_service": 0.12,
}

# The tone picks closers, emojis, hashtags and code-switching tails that fit the message.
CATEGORY_TONE = {
    "billing": "negative", "delivery": "negative", "account_access": "negative", "technical_issue": "negative",
    "cancellation_refund": "negative", "praise": "positive", "pricing_offers": "question",
    "customer_service": "negative",
}

LANGUAGE_SHARES = {"es": 0.5, "en": 0.5}
SOURCE_SHARES = {"twitter": 0.5, "app_review": 0.2, "chat": 0.3}
START_TIME = np.datetime64("2024-03-04T00:00:00", "s")  # created_at is spread over SPAN_DAYS from here (UTC)
SPAN_DAYS = 28

# Noise: the share of ALL rows that each kind touches (an exact count, round(rate * rows), drawn from the rows
# where it makes sense: mentions, hashtags and retweets only on tweets, ALL CAPS only on complaints).
# Kinds overlap freely (a row can get an emoji and a URL), as in real data.
NOISE_RATES = {
    "code_switch": 0.10,      # English tail or word in a Spanish row ("..., so annoying") and vice versa
    "mention": 0.15,          # "@LumoAyuda ..." (tweets only, so ~30% of tweets)
    "hashtag": 0.08,          # "#MalServicio", "#NeverAgain" (tweets only)
    "emoji": 0.10,            # 1-3 emojis matching the tone
    "url": 0.04,              # a t.co / screenshot link
    "elongation": 0.05,       # "holaaaa", "pleaseeee"
    "caps": 0.03,             # ALL CAPS anger (complaints only)
    "typo": 0.08,             # 1-2 character swaps, drops or doubles
    "retweet": 0.03,          # "RT @user: <an earlier message>" (tweets only)
    "exact_duplicate": 0.02,  # an earlier message's text again, under a new id
    "near_duplicate": 0.03,   # an earlier message with a small edit ("!!", a changed digit, "pls")
}
DEFAULT_MALFORMED_SHARE = 0.03

# Reasons only raw bytes can carry; write_demo_data(raw_defects=True) adds them (CSV and JSON Lines).
RAW_ONLY_REASONS = ("malformed_record", "invalid_encoding")
# Reasons a DataFrame row can carry, split evenly over the malformed rows.
MALFORMED_REASONS = tuple(r for r in contract.QUARANTINE_REASONS if r not in RAW_ONLY_REASONS)
RAW_DEFECT_SHARE = 0.0005  # per raw kind, at least one row: "a few rows" even in big files

# Composition style rates (not noise: ordinary variety).
OPENER_RATE = 0.25
CLOSER_RATE = 0.25
FOLLOW_UP_RATE = 0.6
CAPITALIZE_RATE = 0.4  # templates are lowercase; many people capitalise the first letter

# ---------------------------------------------------------------------------------------------------------
# Templates: {slot} fields are filled from SLOTS. No template holds "@", "#", URLs, emojis or a letter
# repeated 4+ times, so those only appear as measured noise (tests/processing/test_demo_data.py checks it).
# Vocabulary overlaps across categories on purpose ("cobro", "pedido", "app", "refund"), as in real data.
# ---------------------------------------------------------------------------------------------------------
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "billing": {
        "es": [
            "me cobraron dos veces el mismo pedido, {amount} cada uno",
            "tengo un cargo de {amount} en {card} que no reconozco",
            "por qué me cobraron {amount} si {plan} cuesta menos?",
            "{day} me llegó un cobro de {amount} que no hice",
            "la factura de este mes viene con {amount} de más",
            "me siguen cobrando la suscripción aunque ya la había dado de baja",
            "aparece un cargo duplicado por {amount} en mi estado de cuenta",
            "me descontaron {amount} de {card} sin autorización",
            "la factura no coincide con lo que pagué, revisen por favor",
            "cobro indebido de {amount} {day}, necesito que lo revisen",
            "no entiendo este cargo de {amount} en mi factura",
            "me cobraron el envío del pedido {order_no} aunque era gratis",
            "pagué {amount} por {product} y me lo cobraron {n} veces",
            "quién autorizó este cobro de {amount}?",
            "el débito automático se hizo dos veces este mes",
            "me llegó la factura con un cargo por servicio que nunca pedí",
            "me están cobrando intereses que no corresponden",
            "la comisión de {amount} no aparecía en ningún lado cuando pagué",
            "cargo extraño de {amount} en mi resumen, yo no compré nada {day}",
            "revisen mi factura, el monto de {amount} está mal",
            "me cobraron {amount} por una compra que cancelé",
            "ya pagué la factura y me sigue apareciendo como pendiente",
            "el cobro de {plan} subió a {amount} sin previo aviso",
            "necesito la factura corregida, me cobraron de más",
            "otra vez un cobro doble, ya van {n} este mes",
            "me cobraron {amount} en una tienda de {place} y yo estaba en casa",
            "por qué mi factura trae un cobro de {amount}?",
            "el pedido {order_no} me salió {amount} más caro de lo que decía la app",
        ],
        "en": [
            "I was charged twice for the same order, {amount} each time",
            "there's a {amount} charge on {card} that I don't recognize",
            "why was I billed {amount} when {plan} is cheaper?",
            "got a {amount} charge {day} that I never made",
            "this month's bill has an extra {amount} on it",
            "you keep charging me for the subscription even though I cancelled it",
            "duplicate charge of {amount} on my statement",
            "{amount} was taken from {card} without my permission",
            "my invoice doesn't match what I paid, please check",
            "unauthorized charge of {amount} {day}, need this reviewed",
            "what is this {amount} fee on my bill?",
            "you charged me shipping on order {order_no} but it was supposed to be free",
            "paid {amount} for {product} and got charged {n} times",
            "who approved this {amount} charge?",
            "autopay went through twice this month",
            "my bill has a service fee I never signed up for",
            "I'm being charged interest that shouldn't be there",
            "that {amount} fee wasn't mentioned anywhere when I paid",
            "weird {amount} charge on my statement, I didn't buy anything {day}",
            "please look at my bill, the {amount} total is wrong",
            "charged {amount} for a purchase I cancelled",
            "I already paid my bill and it still shows as overdue",
            "{plan} went up to {amount} with zero notice",
            "I need a corrected invoice, you overcharged me",
            "another double charge, that's {n} times this month",
            "got billed {amount} at a store in {place} and I was at home",
            "why does my bill show a {amount} charge from you?",
            "order {order_no} ended up costing {amount} more than the app said",
        ],
    },
    "delivery": {
        "es": [
            "mi pedido {order_no} sigue sin llegar y ya pasaron {time}",
            "el repartidor marcó el pedido como entregado pero no recibí nada",
            "dónde está mi pedido? el seguimiento no se actualiza desde {day}",
            "{product} llegó roto, la caja venía toda aplastada",
            "me llegó otro producto, yo pedí {product}",
            "el envío a {place} tarda demasiado, {time} esperando",
            "el seguimiento dice que el paquete está en {place} hace {time}",
            "compré {product} con envío express y todavía no llega",
            "nadie vino a entregar el pedido {order_no}, estuve en casa todo el día",
            "el paquete llegó abierto y faltaba {product}",
            "me dijeron que llegaba {day} y nada",
            "el pedido {order_no} aparece como devuelto al remitente, por qué?",
            "cambiaron la fecha de entrega {n} veces",
            "el courier dejó el paquete en la portería equivocada",
            "mi compra está retenida en aduana desde hace {time}",
            "pedí {product} hace {time} y sigue en preparación",
            "llegó solo la mitad del pedido, falta {product}",
            "el número de seguimiento del pedido {order_no} no funciona",
            "la entrega era entre 9 y 13 y son las 8 de la noche",
            "el envío a {place} me costó {amount} y llegó tarde igual",
            "el paquete figura entregado en {place} pero yo vivo en otra ciudad",
            "cuándo llega {product}? ya pagué el envío",
            "el repartidor no quiso subir el paquete",
            "mi pedido lleva {time} en el centro de distribución",
            "pedido {order_no}: dice en camino desde {day}",
            "me entregaron {product} mojado y sin caja",
            "otra vez el envío retrasado, ya es costumbre",
            "la app dice entregado pero el paquete no aparece por ningún lado",
        ],
        "en": [
            "my order {order_no} still hasn't arrived and it's been {time}",
            "driver marked my order as delivered but I got nothing",
            "where is my package? tracking hasn't updated since {day}",
            "{product} arrived broken, the box was crushed",
            "received the wrong item, I ordered {product}",
            "shipping to {place} is taking forever, {time} and counting",
            "tracking says my parcel has been in {place} for {time}",
            "paid for express shipping on {product} and it's still not here",
            "nobody delivered order {order_no}, I was home all day",
            "package came open and {product} was missing",
            "you said it would arrive {day} and nothing",
            "order {order_no} shows returned to sender, why?",
            "delivery date changed {n} times already",
            "courier left the package at the wrong building",
            "my order has been stuck in customs for {time}",
            "ordered {product} {time} ago and it's still processing",
            "only half of my order showed up, {product} is missing",
            "the tracking number for order {order_no} doesn't work",
            "delivery window was 9 to 1 and it's 8pm now",
            "shipping to {place} cost me {amount} and it was still late",
            "package shows delivered in {place} but I live in a different city",
            "when will {product} arrive? already paid for shipping",
            "the delivery guy refused to bring the package upstairs",
            "my order has been at the distribution center for {time}",
            "order {order_no}: out for delivery since {day}",
            "{product} was delivered soaking wet with no box",
            "late delivery again, this is becoming a habit",
            "the app says delivered but the package is nowhere to be found",
        ],
    },
    "account_access": {
        "es": [
            "no puedo entrar a mi cuenta, dice contraseña incorrecta",
            "me bloquearon {card} sin motivo",
            "no me llega el código de verificación para iniciar sesión",
            "olvidé mi contraseña y el correo de recuperación nunca llega",
            "mi cuenta aparece suspendida desde {day}",
            "intento cambiar la contraseña y me da error",
            "{card} quedó bloqueada después de {n} intentos",
            "la app no reconoce mi huella para entrar",
            "alguien entró a mi cuenta desde {place}, ayuda",
            "me cerraron la sesión y ahora no puedo volver a entrar",
            "el SMS con el código tarda {time} en llegar",
            "cambié de celular y no puedo acceder a mi cuenta",
            "necesito desbloquear {card}, estoy de viaje en {place}",
            "me pide verificar identidad pero la foto del DNI nunca sube",
            "por qué me bloquearon la cuenta? no hice nada raro",
            "el PIN de {card} no funciona en el cajero",
            "no puedo cambiar el correo asociado a mi cuenta",
            "la clave temporal que me mandaron ya venció",
            "me rechazan {card} en todos lados desde {day}",
            "quiero activar {card} pero dice que ya está activa",
            "me sale usuario no encontrado y tengo cuenta hace años",
            "tengo doble factor activado y perdí el celular, cómo entro?",
            "llevo {time} sin poder usar mi cuenta",
            "me llegó un aviso de inicio de sesión desde {place} y no fui yo",
            "no puedo iniciar sesión ni en la web ni en la app",
            "dice que mi contraseña expiró pero no me deja crear otra",
            "{card} aparece como robada y la tengo en la mano",
            "me piden un código que llega a un número que ya no uso",
        ],
        "en": [
            "can't log into my account, says wrong password",
            "you blocked {card} for no reason",
            "not getting the verification code to sign in",
            "forgot my password and the recovery email never arrives",
            "my account has been suspended since {day}",
            "trying to reset my password and it keeps failing",
            "{card} got locked after {n} attempts",
            "the app won't recognize my fingerprint anymore",
            "someone logged into my account from {place}, help",
            "I got logged out and now I can't get back in",
            "the SMS code takes {time} to arrive",
            "switched phones and now I can't access my account",
            "need {card} unlocked, I'm traveling in {place}",
            "identity check keeps asking for my ID photo but the upload never finishes",
            "why was my account locked? I didn't do anything weird",
            "the PIN for {card} doesn't work at the ATM",
            "can't change the email linked to my account",
            "the temporary password you sent already expired",
            "{card} has been declined everywhere since {day}",
            "trying to activate {card} but it says it's already active",
            "it says user not found, I've had an account for years",
            "two factor is on and I lost my phone, how do I get in?",
            "haven't been able to use my account for {time}",
            "got a sign-in alert from {place} and it wasn't me",
            "can't log in on the website or the app",
            "says my password expired but won't let me create a new one",
            "{card} shows as stolen and it's literally in my hand",
            "the login code goes to a number I don't use anymore",
        ],
    },
    "technical_issue": {
        "es": [
            "la app se cierra sola cada vez que la abro",
            "desde la última actualización la app no carga en mi {device}",
            "me sale error 500 cuando intento pagar",
            "la app se queda en pantalla blanca",
            "{feature} no funciona desde {day}",
            "la página web está caída?",
            "la aplicación va lentísima, tarda un montón en cargar",
            "cada vez que agrego algo al carrito la app se congela",
            "no me llegan las notificaciones en el {device}",
            "el botón de pagar no hace nada",
            "la app se cuelga al abrir {feature}",
            "me da error de conexión aunque tengo buen internet",
            "instalé la actualización y ahora no abre",
            "la app consume toda la batería de mi {device}",
            "sale un mensaje de algo salió mal y no me deja seguir",
            "el escáner de QR no enfoca nada",
            "no carga el historial de movimientos",
            "la app se traba en el {device}, ya la reinstalé {n} veces",
            "el sitio no deja terminar la compra, se queda cargando",
            "error al subir la foto y la app se cierra",
            "la versión nueva tiene un bug en {feature}",
            "se me duplicó el carrito y ahora no puedo borrar nada",
            "la app no es compatible con mi {device}?",
            "las transferencias se quedan en procesando para siempre",
            "la pantalla de inicio aparece en blanco en mi {device}",
            "todo el día con fallas en la app, nada funciona",
            "los botones no responden después de actualizar",
            "{feature} tira error {n}0{n} desde {day}",
        ],
        "en": [
            "app crashes every time I open it",
            "since the last update the app won't load on my {device}",
            "getting error 500 when I try to pay",
            "app is stuck on a white screen",
            "the {feature} hasn't worked since {day}",
            "is the website down?",
            "app is super slow, takes ages to load",
            "every time I add something to the cart the app freezes",
            "not getting any notifications on my {device}",
            "the pay button does nothing",
            "app crashes when I open the {feature}",
            "connection error even though my wifi is fine",
            "installed the update and now it won't open",
            "the app drains my {device} battery",
            "it just says something went wrong and won't let me continue",
            "QR scanner won't focus at all",
            "transaction history won't load",
            "app keeps freezing on my {device}, reinstalled it {n} times",
            "website won't let me finish checkout, just keeps spinning",
            "error uploading a photo, then the app closes",
            "new version has a bug in the {feature}",
            "my cart duplicated itself and now I can't delete anything",
            "is the app not compatible with the {device}?",
            "transfers stay in processing forever",
            "home screen is blank on my {device}",
            "app has been glitching all day, nothing works",
            "buttons stop responding after the update",
            "the {feature} throws error {n}0{n} since {day}",
        ],
    },
    "cancellation_refund": {
        "es": [
            "quiero cancelar {plan} y no encuentro cómo",
            "cancelé el pedido {order_no} y todavía no me devuelven el dinero",
            "cómo pido el reembolso de {product}?",
            "solicité la devolución hace {time} y nada",
            "quiero dar de baja mi cuenta",
            "me prometieron el reembolso de {amount} en 5 días y ya pasaron {time}",
            "cancelen mi suscripción por favor",
            "devolví {product} {day} y sigo sin el reembolso",
            "cómo cancelo el pedido antes de que lo envíen?",
            "quiero la devolución completa, {product} no sirve",
            "me rechazaron el reembolso sin explicación",
            "cancelé {plan} pero me siguen llegando cargos",
            "necesito que anulen la compra {order_no}",
            "el reembolso dice aprobado pero no aparece en mi cuenta",
            "quiero devolver {product}, dónde genero la etiqueta?",
            "no quiero seguir con la suscripción, denla de baja ya",
            "hace {time} que espero que me reintegren {amount}",
            "pedí cancelar y me ofrecieron un descuento, solo quiero cancelar",
            "el botón de cancelar pedido no aparece",
            "me devolvieron solo una parte, faltan {amount}",
            "por qué no puedo cancelar si el pedido no salió?",
            "quiero anular la renovación automática de la suscripción",
            "devuélvanme mi plata, el pedido nunca llegó",
            "cancelación del pedido {order_no}, por favor confirmen",
            "cuánto tarda el reembolso a {card}?",
            "me cobraron penalización por cancelar, eso no estaba en el contrato",
            "cerré mi cuenta y quiero el saldo de {amount} de vuelta",
            "quiero cambiar {product} o que me devuelvan el dinero",
        ],
        "en": [
            "I want to cancel {plan} and can't find how",
            "cancelled order {order_no} and still no refund",
            "how do I request a refund for {product}?",
            "requested a return {time} ago and nothing",
            "I want to close my account",
            "you promised my {amount} refund in 5 days, it's been {time}",
            "please cancel my subscription",
            "returned {product} {day} and still no refund",
            "how do I cancel my order before it ships?",
            "I want a full refund, {product} is useless",
            "my refund was denied with no explanation",
            "cancelled {plan} but I'm still getting charged",
            "please void purchase {order_no}",
            "refund says approved but it's not showing in my account",
            "want to return {product}, where do I get the label?",
            "don't want the subscription anymore, cancel it now",
            "been waiting {time} to get my {amount} back",
            "asked to cancel and got offered a discount, I just want to cancel",
            "the cancel order button is missing",
            "only got a partial refund, still missing {amount}",
            "why can't I cancel if the order hasn't shipped?",
            "I want to turn off auto renewal for my subscription",
            "give me my money back, the order never arrived",
            "cancellation for order {order_no}, please confirm",
            "how long does a refund to {card} take?",
            "you charged me a cancellation fee, that wasn't in the contract",
            "closed my account and want my {amount} balance back",
            "I want to exchange {product} or get my money back",
        ],
    },
    "praise": {
        "es": [
            "gracias {brand}, el pedido llegó antes de lo esperado",
            "excelente atención, me resolvieron todo en {time}",
            "me encanta la app nueva, mucho más rápida",
            "la chica del chat fue súper amable, gracias",
            "{product} llegó perfecto y bien embalado",
            "el mejor servicio que he tenido, los recomiendo",
            "qué rápido el reembolso, gracias por la atención",
            "por fin una empresa que responde rápido",
            "felicitaciones al equipo de {brand}, todo impecable",
            "el agente Carlos me ayudó un montón, denle un aumento",
            "el envío a {place} llegó en {time}, increíble",
            "buenísimo lo nuevo de {feature}",
            "{brand} nunca falla, ya van {n} compras sin problemas",
            "la verdad muy contento con el servicio",
            "gracias por solucionar lo de mi pedido tan rápido",
            "me encantó {product}, llegó {day} como prometieron",
            "la atención por chat es de diez",
            "todo perfecto con mi pedido {order_no}, gracias",
            "muy fácil de usar la app, hasta mi abuela la usa",
            "qué gusto que contesten tan rápido",
            "gran experiencia de compra, volveré a comprar",
            "buen trabajo con la última actualización",
            "el repartidor fue muy amable y puntual",
            "gracias por el descuento, justo lo que necesitaba",
            "son los mejores, nunca me han fallado",
            "me solucionaron el problema en minutos, excelente",
            "encantada con {brand}, servicio de primera",
            "pagar con {card} en {place} fue facilísimo, gracias",
        ],
        "en": [
            "thanks {brand}, my order arrived earlier than expected",
            "great support, they sorted everything out in {time}",
            "love the new app, so much faster",
            "the chat agent was super nice, thank you",
            "{product} arrived in perfect condition and well packed",
            "best service I've had, highly recommend",
            "that was a quick refund, thanks for the help",
            "finally a company that answers fast",
            "kudos to the {brand} team, everything was flawless",
            "agent Sarah helped me a ton, give her a raise",
            "shipping to {place} took only {time}, amazing",
            "loving the new {feature}",
            "{brand} never lets me down, {n} orders with zero issues",
            "honestly really happy with the service",
            "thanks for fixing the issue with my order so quickly",
            "loved {product}, arrived {day} just like you promised",
            "chat support is a 10 out of 10",
            "everything perfect with order {order_no}, thanks",
            "app is so easy to use, even my grandma uses it",
            "so nice to get such a fast reply",
            "great shopping experience, will buy again",
            "good job on the latest update",
            "delivery guy was super friendly and on time",
            "thanks for the discount, just what I needed",
            "you guys are the best, never failed me",
            "fixed my problem in minutes, excellent",
            "really impressed with {brand}, top notch service",
            "paying with {card} in {place} was so easy, thanks",
        ],
    },
    "pricing_offers": {
        "es": [
            "cuánto cuesta {plan}?",
            "hay algún descuento para estudiantes?",
            "el envío a {place} tiene costo?",
            "tienen promociones para el Black Friday?",
            "cuál es la diferencia de precio entre el plan básico y {plan}?",
            "el cupón de descuento aplica para {product}?",
            "por qué {product} cuesta {amount} en la app y menos en la web?",
            "hay cuotas sin interés con {card}?",
            "me interesa {plan}, qué incluye por ese precio?",
            "subieron los precios? {product} antes costaba menos",
            "cuánto sale el envío express?",
            "tienen precio especial si pago anual?",
            "la oferta de {product} a {amount} sigue vigente?",
            "el código promocional no me hace el descuento, sigue siendo válido?",
            "cuánto cobran de comisión por transferir {amount}?",
            "hay descuento por referir amigos?",
            "qué ofertas hay este fin de semana?",
            "el precio de {plan} incluye IVA?",
            "vale la pena {plan} o me conviene el gratuito?",
            "cuándo vuelve la promo de envío gratis?",
            "tienen planes para empresas? cuánto cuestan?",
            "el {n}x1 aplica en todas las tiendas?",
            "a cuánto queda {product} con el descuento?",
            "cuánto es el mínimo para envío gratis a {place}?",
            "hay prueba gratis de {plan}?",
            "me pasan la lista de precios actualizada?",
            "si me cambio a {plan} pago la diferencia o el precio completo?",
            "cuánto cuesta sacar {card} adicional?",
        ],
        "en": [
            "how much is {plan}?",
            "any student discounts?",
            "is there a shipping fee to {place}?",
            "are you running any Black Friday deals?",
            "what's the price difference between basic and {plan}?",
            "does the discount code work on {product}?",
            "why is {product} {amount} in the app but cheaper on the website?",
            "any interest free installments with {card}?",
            "interested in {plan}, what does it include for that price?",
            "did prices go up? {product} used to be cheaper",
            "how much is express shipping?",
            "is there a better price if I pay yearly?",
            "is the {amount} deal on {product} still on?",
            "promo code isn't applying the discount, is it still valid?",
            "what's the fee to transfer {amount}?",
            "do you have a referral discount?",
            "what offers do you have this weekend?",
            "does the price of {plan} include tax?",
            "is {plan} worth it or should I stick with free?",
            "when is free shipping coming back?",
            "do you have business plans? how much?",
            "does the buy {n} pay 1 deal apply in every store?",
            "how much is {product} with the discount?",
            "what's the minimum for free shipping to {place}?",
            "is there a free trial for {plan}?",
            "can you send me the updated price list?",
            "if I switch to {plan} do I pay the difference or full price?",
            "how much does an extra card cost?",
        ],
    },
    "customer_service": {
        "es": [
            "llevo {time} esperando que alguien del chat me responda",
            "pésima atención, me cortaron la llamada {n} veces",
            "nadie responde los mensajes, para qué tienen soporte?",
            "un agente me dijo una cosa y el siguiente otra totalmente distinta",
            "me pasaron de un área a otra durante {time} y nada",
            "abrí un reclamo {day} y no tengo ninguna respuesta",
            "la persona que me atendió fue muy grosera",
            "el bot no entiende nada y no hay forma de hablar con un humano",
            "ya expliqué mi problema {n} veces a distintas personas",
            "el número de atención al cliente nunca contesta",
            "me cerraron el ticket sin resolver nada",
            "quiero hablar con un supervisor ya",
            "en la tienda de {place} me trataron fatal",
            "su servicio al cliente es un desastre",
            "me prometieron que me llamaban {day} y nunca llamaron",
            "respuestas automáticas y cero soluciones",
            "el reclamo del pedido {order_no} lleva {time} abierto",
            "me dejaron en espera {time} y luego se cortó",
            "ningún agente sabe resolver mi caso",
            "me respondieron con un copia y pega que no tiene nada que ver",
            "pedí ayuda por el chat y me desconectaron",
            "cómo puede ser tan difícil hablar con alguien de {brand}?",
            "el soporte por correo tarda {time} en contestar",
            "me trataron como si fuera mi culpa",
            "mandé mensaje privado hace {time} y nada",
            "no es la primera vez que me ignoran en atención al cliente",
            "la atención al cliente de {brand} empeoró muchísimo",
            "el asesor me colgó cuando pregunté por mi reembolso",
        ],
        "en": [
            "been waiting {time} for someone on chat to answer",
            "terrible service, they hung up on me {n} times",
            "nobody answers messages, what's the point of support?",
            "one agent told me one thing and the next told me the opposite",
            "got transferred between departments for {time} and nothing",
            "opened a complaint {day} and still no reply",
            "the rep I spoke to was really rude",
            "the bot understands nothing and there's no way to reach a human",
            "I've explained my problem {n} times to different people",
            "your customer service number never picks up",
            "you closed my ticket without fixing anything",
            "I want to speak to a supervisor now",
            "staff at the {place} store treated me horribly",
            "your customer service is a disaster",
            "they promised to call me {day} and never did",
            "canned responses and zero solutions",
            "my complaint about order {order_no} has been open for {time}",
            "left me on hold for {time} and then the call dropped",
            "no agent knows how to fix my case",
            "got a copy paste reply that has nothing to do with my issue",
            "asked for help on chat and got disconnected",
            "why is it so hard to talk to a real person at {brand}?",
            "email support takes {time} to answer",
            "they treated me like it was my fault",
            "sent a DM {time} ago and nothing",
            "not the first time customer service ignores me",
            "{brand} customer service has gotten so much worse",
            "the agent hung up when I asked about my refund",
        ],
    },
}

# A second clause in the category's own words, appended to FOLLOW_UP_RATE of the messages: real messages repeat
# their topic ("... revisen el cobro"), which is the signal clustering picks up.
FOLLOW_UPS: dict[str, dict[str, list[str]]] = {
    "billing": {
        "es": ["revisen el cobro por favor", "quiero que me devuelvan lo cobrado de más",
               "nadie me explica este cargo",
               "exijo una factura corregida", "es la segunda vez que me cobran mal", "no autoricé ese pago",
               "el cargo sigue ahí en la factura", "me están cobrando cosas que no uso",
               "necesito el detalle de la facturación", "ese cobro no es mío", "quiero anular ese cargo"],
        "en": ["please review the charge", "I want the overcharge back", "nobody can explain this charge",
               "I need a corrected bill", "second time you bill me wrong", "I never authorized that payment",
               "the charge is still on my bill", "charging me for stuff I don't use",
               "I need a breakdown of the charges", "that charge is not mine", "reverse that charge"],
    },
    "delivery": {
        "es": ["el paquete no llega", "el seguimiento no dice nada", "dónde está mi envío?",
               "necesito el pedido para este fin de semana", "ya no sé a quién preguntar por el paquete",
               "la empresa de envíos no contesta", "el repartidor ni tocó el timbre", "el pedido era un regalo",
               "quiero saber cuándo lo entregan", "la entrega se retrasó otra vez"],
        "en": ["the package never shows up", "tracking says nothing useful", "where is my shipment?",
               "I need the order by this weekend", "don't know who to ask about the package anymore",
               "the courier doesn't answer", "the driver didn't even ring the bell", "the order was a gift",
               "just tell me when it will be delivered", "delivery got pushed back again"],
    },
    "account_access": {
        "es": ["no puedo entrar a la cuenta", "necesito recuperar el acceso ya", "el código nunca llega",
               "tengo la cuenta bloqueada", "ya probé restablecer la contraseña", "no puedo usar la tarjeta",
               "me dejaron sin acceso a mi plata", "la verificación no funciona",
               "me preocupa que me hayan hackeado", "quiero desbloquear la cuenta"],
        "en": ["can't get into the account", "I need my access back now", "the code never arrives",
               "my account is locked", "already tried resetting the password", "can't use my card",
               "I'm locked out of my own money", "verification doesn't work", "worried I got hacked",
               "please unlock my account"],
    },
    "technical_issue": {
        "es": ["la app no funciona", "ya la desinstalé y nada", "sale error todo el tiempo", "arreglen la app",
               "pasa con wifi y con datos", "con la versión anterior andaba bien", "les mando captura del error",
               "se cerró sola otra vez", "la web tampoco carga", "es un bug evidente"],
        "en": ["the app doesn't work", "already uninstalled it and nothing", "errors all the time", "fix the app",
               "happens on wifi and on data", "the previous version worked fine",
               "can send a screenshot of the error", "it crashed again", "the website won't load either",
               "it's clearly a bug"],
    },
    "cancellation_refund": {
        "es": ["quiero mi reembolso", "cancelen todo", "quiero la devolución del dinero",
               "no quiero nada más con ustedes, den de baja todo", "el reembolso no aparece",
               "ya pedí la cancelación dos veces", "devuelvan lo que pagué", "quiero cancelar ya",
               "espero el reintegro", "solo quiero mi dinero de vuelta"],
        "en": ["I want my refund", "cancel everything", "I want my money back", "done with you, cancel it all",
               "the refund hasn't shown up", "already asked to cancel twice", "return what I paid",
               "I want to cancel now", "still waiting for the refund", "I just want my money back"],
    },
    "praise": {
        "es": ["excelente servicio", "muy recomendable", "gracias por todo", "así da gusto",
               "ojalá todas las empresas fueran así", "cinco estrellas", "muy buena experiencia", "los felicito",
               "súper contento", "todo genial"],
        "en": ["excellent service", "highly recommended", "thanks for everything", "that's how it's done",
               "wish every company worked like this", "five stars", "really good experience", "congrats",
               "super happy", "all great"],
    },
    "pricing_offers": {
        "es": ["quiero saber el precio", "cuánto me sale en total?", "hay alguna promo?", "me pasan precios?",
               "tienen algún descuento?", "me interesa si el precio es bueno", "cuál conviene más?",
               "el precio incluye envío?", "están en oferta?", "hay planes más baratos?"],
        "en": ["what's the price?", "how much in total?", "any promo right now?", "can you share prices?",
               "any discount available?", "interested if the price is right", "which one is cheaper?",
               "does the price include shipping?", "is it on sale?", "any cheaper plans?"],
    },
    "customer_service": {
        "es": ["nadie me atiende", "pésima atención al cliente", "quiero hablar con una persona",
               "el soporte no sirve", "nadie da una respuesta", "me tienen de un lado a otro",
               "el chat no responde", "qué mal trato", "no me dan solución", "atiendan a sus clientes"],
        "en": ["nobody helps me", "awful customer service", "I want to talk to a real person",
               "support is useless", "nobody gives me an answer", "being passed around", "chat doesn't reply",
               "such bad treatment", "no solution from anyone", "take care of your customers"],
    },
}

# Slot fillers per language. amount, order_no and n are generated numbers (see _slot_columns).
SLOTS: dict[str, dict[str, list[str]]] = {
    "es": {
        # Masculine singular only, so "{product} llegó roto" stays grammatical.
        "product": ["el celular", "el cargador", "el microondas", "el reloj", "el router", "el monitor",
                    "el colchón", "el perfume", "el teclado", "el ventilador", "el televisor", "el parlante",
                    "el secador de pelo", "el libro", "el juego de sábanas", "el taladro", "el mouse",
                    "el horno eléctrico", "el casco", "el abrigo"],
        "day": ["ayer", "el lunes", "el martes", "el viernes pasado", "anteayer", "hace una semana",
                "esta mañana", "el fin de semana", "el 12", "anoche", "el domingo"],
        "time": ["3 días", "dos semanas", "48 horas", "más de una hora", "40 minutos", "un mes", "5 días",
                 "casi una semana", "10 días", "dos horas", "20 minutos", "tres semanas"],
        "place": ["Madrid", "Bogotá", "CDMX", "Buenos Aires", "Lima", "Sevilla", "Monterrey", "Santiago",
                  "Valencia", "Quito", "Guadalajara", "Medellín", "Barcelona", "Córdoba"],
        "plan": ["el plan Plus", "el plan Premium", "el plan familiar", "el plan Pro", "el plan anual"],
        "card": ["mi tarjeta", "la tarjeta", "mi tarjeta de débito", "mi tarjeta de crédito"],
        "device": ["iPhone", "iPhone 13", "Samsung", "Galaxy S22", "Pixel 7", "Xiaomi", "Motorola", "iPad",
                   "Huawei", "celular viejo"],
        "feature": ["el carrito", "el pago con QR", "el seguimiento de pedidos", "el buscador",
                    "el inicio de sesión", "el chat", "el historial", "el checkout", "el modo oscuro"],
    },
    "en": {
        "product": ["the phone", "the charger", "the blender", "the monitor", "the mattress", "the jacket",
                    "the watch", "the router", "the coffee maker", "the printer", "the backpack", "the TV",
                    "the speaker", "the keyboard", "the gaming chair", "the hair dryer", "the drill",
                    "the headphones", "the air fryer", "the helmet"],
        "day": ["yesterday", "Monday", "Tuesday", "last Friday", "last week", "this morning", "last night",
                "Sunday", "the 12th", "two days ago"],
        "time": ["3 days", "two weeks", "48 hours", "over an hour", "40 minutes", "a month", "5 days",
                 "almost a week", "10 days", "two hours", "20 minutes", "three weeks"],
        "place": ["Chicago", "Austin", "London", "Miami", "Toronto", "Denver", "Houston", "Seattle",
                  "Manchester", "Phoenix", "Dublin", "Atlanta", "Leeds", "San Diego"],
        "plan": ["the Plus plan", "the Premium plan", "the family plan", "the Pro plan", "the annual plan"],
        "card": ["my card", "the card", "my debit card", "my credit card"],
        "device": ["iPhone", "iPhone 13", "Samsung", "Galaxy S22", "Pixel 7", "Xiaomi", "Motorola", "iPad",
                   "Huawei", "old Android phone"],
        "feature": ["checkout", "QR payment", "order tracking", "search bar", "login screen", "chat",
                    "transaction history", "cart", "dark mode"],
    },
}
GENERATED_SLOTS = ("amount", "order_no", "n", "brand")

OPENERS = {
    "es": ["hola", "buenas", "buenas tardes", "buenos días", "hola buenas", "oigan", "a ver", "hola equipo",
           "disculpen", "holi", "qué tal", "Lumo", "una consulta", "hola a todos"],
    "en": ["hi", "hello", "hey", "hey there", "hi team", "hello Lumo", "ok so", "um", "so", "good morning",
           "hey guys", "hiya", "excuse me", "quick question"],
}
CLOSERS = {
    "es": {
        "negative": ["por favor ayuda", "urgente", "espero respuesta", "qué mal", "gracias",
                     "necesito una solución ya", "no es la primera vez", "qué decepción", "saludos",
                     "ayuda por favor", "es una vergüenza", "estoy harto"],
        "positive": ["gracias", "mil gracias", "saludos", "sigan así", "los recomiendo", "un abrazo"],
        "question": ["gracias", "saludos", "gracias de antemano", "quedo atento", "me avisan",
                     "espero respuesta"],
    },
    "en": {
        "negative": ["please help", "asap", "thanks", "unacceptable", "fix this", "not happy",
                     "please respond", "so disappointed", "this is the second time", "help",
                     "ridiculous", "sort it out"],
        "positive": ["thanks", "thank you so much", "keep it up", "cheers", "highly recommend",
                     "much appreciated"],
        "question": ["thanks", "thanks in advance", "cheers", "let me know", "appreciate it",
                     "any help is welcome"],
    },
}
END_PUNCTUATION = {"negative": ["", "", ".", "!", "!!"], "positive": ["", "!", "!!", "."], "question": [""]}

# Code-switching: a tail in the other language, keyed by the row's base language.
CODE_SWITCH_TAILS = {
    "es": {  # English tails on Spanish messages
        "negative": ["so annoying", "wtf", "please fix it", "not cool", "seriously?", "this is ridiculous",
                     "so frustrating", "asap please", "worst experience ever", "come on"],
        "positive": ["love it", "thanks a lot", "amazing job", "you guys rock", "best app ever"],
        "question": ["any info?", "thanks in advance", "just asking", "let me know", "please advise"],
    },
    "en": {  # Spanish tails on English messages
        "negative": ["qué mal", "por favor", "no puede ser", "qué vergüenza", "ya en serio", "de verdad",
                     "urgente", "que alguien me ayude", "qué horror"],
        "positive": ["muchas gracias", "son lo máximo", "qué bien", "10 de 10", "me encanta"],
        "question": ["gracias", "saludos", "porfa", "me avisan?", "gracias de antemano"],
    },
}
# ...or one word swapped for its other-language twin ("mi order 48213 no llega").
CODE_SWITCH_WORDS = {
    "es": {"pedido": "order", "tarjeta": "card", "contraseña": "password", "envío": "delivery",
           "reembolso": "refund", "cuenta": "account", "descuento": "discount", "factura": "bill",
           "paquete": "package", "cobro": "charge"},
    "en": {"order": "pedido", "card": "tarjeta", "refund": "reembolso", "password": "contraseña",
           "account": "cuenta", "package": "paquete", "bill": "factura", "discount": "descuento"},
}

MENTIONS = ["@Lumo", "@LumoAyuda", "@LumoHelp", "@Lumo_ES", "@LumoSupport", "@lumo_app"]
USER_HANDLES = ["maria_g", "jdoe88", "carlitos_mx", "ana.pz", "techguy", "sofi_23", "pepe_rdz", "kate_m",
                "el_profe", "nico1990", "laura_bcn", "mike_t", "valen_ok", "sam_writes", "juanpa"]
HASHTAGS = {
    "tone": {
        "negative": ["#MalServicio", "#NeverAgain", "#LumoFail", "#fail", "#ayuda", "#help",
                     "#QuéVergüenza", "#NoMore", "#customerservice"],
        "positive": ["#gracias", "#LumoLove", "#HappyCustomer", "#Recomendado", "#TopService"],
        "question": ["#pregunta", "#question", "#ofertas", "#deals", "#BlackFriday"],
    },
    "category": {
        "billing": ["#CobroIndebido", "#DoubleCharge", "#facturas"],
        "delivery": ["#DondeEstaMiPedido", "#WheresMyPackage", "#envios"],
        "account_access": ["#CuentaBloqueada", "#LockedOut"],
        "technical_issue": ["#AppCaida", "#bug", "#AppDown"],
        "cancellation_refund": ["#reembolso", "#RefundNow", "#cancelado"],
        "praise": ["#Lumo", "#5estrellas"],
        "pricing_offers": ["#promo", "#descuentos"],
        "customer_service": ["#PesimaAtencion", "#BadService"],
    },
}
EMOJIS = {
    "negative": ["😡", "🤬", "😤", "😠", "👎", "🙄", "😒", "😭", "💔", "😩"],
    "positive": ["😍", "❤️", "🙌", "👏", "😊", "🥰", "💯", "🔥", "👍", "🎉"],
    "question": ["🤔", "🙏", "😅", "👀", "🙂"],
}
NEAR_DUPLICATE_SUFFIXES = ["pls", "porfa", "again", "otra vez", "x2", "urgente", "thx", "???"]

# Malformed-row material.
OTHER_LANGUAGE_TEXTS = {  # French, Portuguese and German messages: `unsupported_language`
    "fr": ["bonjour, ma commande n'est toujours pas arrivée", "je n'arrive pas à me connecter à mon compte",
           "service client nul, personne ne répond", "j'ai été débité deux fois ce mois-ci",
           "merci beaucoup pour votre aide rapide", "l'application plante tout le temps",
           "je veux annuler mon abonnement", "combien coûte la livraison express ?"],
    "pt": ["olá, meu pedido ainda não chegou", "não consigo entrar na minha conta",
           "fui cobrado duas vezes este mês", "o aplicativo não abre, fecha sozinho toda hora",
           "quero cancelar minha assinatura", "atendimento péssimo, ninguém responde",
           "obrigado pelo atendimento rápido", "quanto custa o frete para São Paulo?"],
    "de": ["hallo, meine Bestellung ist immer noch nicht angekommen",
           "ich kann mich nicht in mein Konto einloggen", "mir wurde zweimal derselbe Betrag abgebucht",
           "die App stürzt ständig ab", "ich möchte mein Abo kündigen", "der Kundenservice antwortet nie",
           "vielen Dank für die schnelle Hilfe", "wie viel kostet der Expressversand?"],
}
EMOJI_ONLY_TEXTS = ["😡😡😡", "👍", "🙏🙏🙏", "😤", "💔", "!!!", "???", "😂😂", "👎👎", "🤬🤬🤬", "...",
                    "😭", "❤️❤️", "🔥🔥", ":(", "?!?!", "🙄"]
WHITESPACE_TEXTS = ["", " ", "   ", "\t", "\n", " \t "]
# Control characters that reach real exports: a NUL from a binary paste, a terminal colour code, a backspace.
CONTROL_CHARACTER_INSERTS = ["\x00", "\x1b[31m", "\x08", "\x1b]0;title\x07"]
BAD_TIMESTAMPS = ["ayer", "yesterday", "15/03/2024 10:22", "03-15-2024", "not a date", "2024-13-45T99:00:00Z"]
LOG_LINES = ["ERROR 500 PaymentService.charge failed (code=E402, retry=3)",
             "at com.lumo.checkout.CartController.submit(CartController.java:212)",
             "WARN timeout after 30000ms calling /api/v2/orders",
             "Traceback: NullPointerException in SessionManager.refresh"]

URL_SHORT_CHARS = np.array(list(string.ascii_letters + string.digits))

# Parsed once: (template, its slot names) per category and language.
_FORMATTER = string.Formatter()
_TEMPLATE_TABLE = {
    cat: {lang: [(t, tuple(f for _, f, _, _ in _FORMATTER.parse(t) if f)) for t in temps]
          for lang, temps in by_lang.items()}
    for cat, by_lang in TEMPLATES.items()
}
_WORD = re.compile(r"[^\W\d_]{2,}")
_SPANISH_CONTRACTION = re.compile(r"\b(de|a) el\b")
_ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_VOWELS = set("aeiouáéíóúAEIOUÁÉÍÓÚ")
_STAGES = ("compose", "code_switch", "mention", "hashtag", "emoji", "url", "elongation", "caps", "typo",
           "retweet", "exact_duplicate", "near_duplicate", "malformed", "meta")


def generate_messages(
    rows: int,
    seed: int = 0,
    malformed_share: float = DEFAULT_MALFORMED_SHARE,
    categories: Iterable[str] | Mapping[str, float] | None = None,
    *,
    noise: Mapping[str, float] | None = None,
    include_lang: bool = False,
    languages: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Return exactly `rows` synthetic messages (columns in contract.FIELDS order; `lang` only if asked).

    `categories`: a subset of CATEGORIES names (weights from CATEGORY_WEIGHTS) or a {name: weight} mapping.
    `noise`: overrides for NOISE_RATES entries. `languages`: {es|en: weight} instead of LANGUAGE_SHARES.
    The same arguments always give an identical frame.
    `df.attrs["malformed_counts"]` holds how many rows were made malformed per reason.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 0.0 <= malformed_share <= 1.0:
        raise ValueError(f"malformed_share must be within [0, 1], got {malformed_share}")
    rates = _noise_rates(noise)
    cat_names, cat_probs = _category_weights(categories)
    lang_names, lang_probs = _language_weights(languages)
    # One child generator per stage: switching one noise kind off leaves every other choice as it was.
    rng = {stage: np.random.default_rng(child)
           for stage, child in zip(_STAGES, np.random.SeedSequence(seed).spawn(len(_STAGES)))}
    n = rows

    # 1. compose
    cats = np.array(cat_names, dtype=object)[rng["compose"].choice(len(cat_names), size=n, p=cat_probs)]
    langs = np.array(lang_names, dtype=object)[rng["compose"].choice(len(lang_names), size=n, p=lang_probs)]
    texts = _compose(rng["compose"], cats, langs)
    tones = np.array([CATEGORY_TONE[c] for c in cats], dtype=object)
    sources = np.array(list(SOURCE_SHARES), dtype=object)[
        rng["meta"].choice(len(SOURCE_SHARES), size=n, p=list(SOURCE_SHARES.values()))]
    labels = cats.copy()
    lang_col = langs.copy()

    # 2-3. noise
    _add_noise(rng, rates, texts, cats, langs, tones, sources, [labels, lang_col])

    # record fields
    seconds = np.sort(rng["meta"].integers(0, SPAN_DAYS * 86400, size=n))
    created_at = np.char.add(np.datetime_as_string(START_TIME + seconds, unit="s"), "Z").astype(object)
    # Tweet-like numeric ids, increasing with time: numeric strings check that readers keep ids as strings.
    ids = 1_764_000_000_000_000_000 + np.cumsum(rng["meta"].integers(1, 10**9, size=n))
    ids = ids.astype(str).astype(object)
    # A heavy tail of user numbers: a few users post a lot, as in real streams.
    user_numbers = 10_000 + (rng["meta"].pareto(1.2, size=n) * 3_000).astype(np.int64) % 90_000
    user_ids = np.char.add("u", user_numbers.astype(str)).astype(object)

    # 4. malformed rows
    columns = {"id": ids, "text": texts, "created_at": created_at, "lang": lang_col, "source": sources,
               "user_id": user_ids, "label": labels}
    counts = _inject_malformed(rng["malformed"], columns, round(malformed_share * n))

    fields = [f for f in contract.FIELDS if include_lang or f != "lang"]
    df = pd.DataFrame({f: columns[f] for f in fields})
    df.attrs["malformed_counts"] = counts
    return df


def _add_noise(rng: dict[str, np.random.Generator], rates: Mapping[str, float], texts, cats, langs, tones, sources,
               carried: list[np.ndarray], hashtags: Mapping[str, list[str]] = HASHTAGS["category"]) -> None:
    """Stages 2-3 on `texts`, in place: each noise kind on its own rows (one generator per stage in `rng`); copies
    (retweets, duplicates) come last so they carry earlier noise, and copy the `carried` columns too."""
    n = len(texts)
    everyone = np.ones(n, dtype=bool)
    tweets = sources == "twitter"
    switched = _pick(rng["code_switch"], everyone, rates["code_switch"])
    _code_switch(rng["code_switch"], texts, langs, tones, switched)
    _add_mentions(rng["mention"], texts, _pick(rng["mention"], tweets, rates["mention"]))
    _add_hashtags(rng["hashtag"], texts, cats, tones, _pick(rng["hashtag"], tweets, rates["hashtag"]), hashtags)
    _add_emojis(rng["emoji"], texts, tones, _pick(rng["emoji"], everyone, rates["emoji"]))
    _add_urls(rng["url"], texts, _pick(rng["url"], everyone, rates["url"]))
    _elongate(rng["elongation"], texts, _pick(rng["elongation"], everyone, rates["elongation"]))
    _shout(rng["caps"], texts, _pick(rng["caps"], tones == "negative", rates["caps"]))
    _add_typos(rng["typo"], texts, _pick(rng["typo"], everyone, rates["typo"]))
    not_first = np.arange(n) > 0  # a copy needs an earlier message
    copies = {
        "retweet": _pick(rng["retweet"], tweets & not_first, rates["retweet"]),
        "exact_duplicate": _pick(rng["exact_duplicate"], not_first, rates["exact_duplicate"]),
        "near_duplicate": _pick(rng["near_duplicate"], not_first, rates["near_duplicate"]),
    }
    for kind, targets in copies.items():
        _copy_earlier(rng[kind], kind, texts, carried, targets)


def _noise_rates(overrides: Mapping[str, float] | None) -> dict[str, float]:
    """NOISE_RATES with `overrides` applied, rejecting unknown kinds and rates outside [0, 1]."""
    rates = dict(NOISE_RATES)
    for kind, rate in (overrides or {}).items():
        if kind not in NOISE_RATES:
            raise ValueError(f"unknown noise kind {kind!r}; known: {sorted(NOISE_RATES)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"noise rate for {kind!r} must be within [0, 1], got {rate}")
        rates[kind] = float(rate)
    return rates


def _category_weights(categories) -> tuple[list[str], np.ndarray]:
    """Category names and normalised probabilities for the `categories` argument of generate_messages."""
    if categories is None:
        weights = dict(CATEGORY_WEIGHTS)
    elif isinstance(categories, Mapping):
        weights = {c: float(w) for c, w in categories.items()}
    else:
        weights = {c: CATEGORY_WEIGHTS.get(c, 0.0) for c in categories}
    unknown = sorted(set(weights) - set(CATEGORIES))
    if unknown or not weights:
        raise ValueError(f"unknown or no categories {unknown}; known: {list(CATEGORIES)}")
    probs = np.array(list(weights.values()), dtype=float)
    if (probs < 0).any() or probs.sum() <= 0:
        raise ValueError(f"category weights must be >= 0 with a positive sum, got {weights}")
    return list(weights), probs / probs.sum()


def _language_weights(languages: Mapping[str, float] | None) -> tuple[list[str], np.ndarray]:
    """Language codes and normalised probabilities for the `languages` argument of generate_messages."""
    weights = {lang: float(w) for lang, w in (LANGUAGE_SHARES if languages is None else languages).items()}
    probs = np.array(list(weights.values()), dtype=float)
    if set(weights) - set(LANGUAGE_SHARES) or not weights or (probs < 0).any() or probs.sum() <= 0:
        raise ValueError(f"languages must weigh {sorted(LANGUAGE_SHARES)} with weights >= 0 and a positive sum, "
                         f"got {dict(languages or {})}")
    return list(weights), probs / probs.sum()


def _pick(rng: np.random.Generator, eligible: np.ndarray, rate: float) -> np.ndarray:
    """Sorted indices of round(rate * len(eligible)) rows drawn from the eligible ones (all of them if fewer)."""
    pool = np.flatnonzero(eligible)
    k = min(round(rate * len(eligible)), len(pool))
    return np.sort(rng.choice(pool, size=k, replace=False)) if k else np.empty(0, dtype=np.int64)


def _choice(rng: np.random.Generator, options: list[str]) -> str:
    """One element of `options`, always from exactly one draw: a row's text never shifts later rows' choices."""
    return options[int(rng.random() * len(options))]


# ---------------------------------------------------------------------------------------------------- compose
def _slot_columns(rng: np.random.Generator, langs: np.ndarray) -> dict[str, np.ndarray]:
    """One filler per row for every slot, in the row's language (vectorised draws)."""
    n = len(langs)
    cols: dict[str, np.ndarray] = {}
    for slot in SLOTS["es"]:
        u = rng.random(n)
        col = np.empty(n, dtype=object)
        for lang, values in ((lang, np.array(SLOTS[lang][slot], dtype=object)) for lang in SLOTS):
            rows = langs == lang
            col[rows] = values[(u[rows] * len(values)).astype(int)]
        cols[slot] = col
    value, cents, style = rng.integers(5, 2500, n), rng.integers(0, 100, n), rng.integers(0, 4, n)
    amount_styles = {"es": ("${v}", "{v} €", "{v},{c:02d} €", "{v} pesos"),
                     "en": ("${v}", "${v}.{c:02d}", "£{v}", "{v} dollars")}
    cols["amount"] = np.array([amount_styles[lang][s].format(v=v, c=c)
                               for lang, v, c, s in zip(langs, value.tolist(), cents.tolist(), style.tolist())],
                              dtype=object)
    cols["order_no"] = rng.integers(100_000, 100_000_000, n).astype(str).astype(object)
    cols["n"] = rng.integers(2, 6, n).astype(str).astype(object)
    cols["brand"] = np.full(n, BRAND, dtype=object)
    return cols


def _compose(rng: np.random.Generator, cats: np.ndarray, langs: np.ndarray, templates=_TEMPLATE_TABLE,
             follow_ups=FOLLOW_UPS, tone_of=CATEGORY_TONE) -> np.ndarray:
    """Fill a random template per row; add end punctuation and optionally a follow-up, an opener and a closer.
    The tables default to the known categories' (demo_scenarios passes a new topic's)."""
    n = len(cats)
    slots = _slot_columns(rng, langs)
    u_template, u_end, u_open, u_close = rng.random(n), rng.random(n), rng.random(n), rng.random(n)
    has_opener, has_closer = rng.random(n) < OPENER_RATE, rng.random(n) < CLOSER_RATE
    has_follow_up, u_follow_up = rng.random(n) < FOLLOW_UP_RATE, rng.random(n)
    capitalize = rng.random(n) < CAPITALIZE_RATE
    opener_sep, closer_sep = rng.choice([", ", " ", "! "], n), rng.choice([". ", ", ", " "], n)
    follow_up_sep = rng.choice([", ", ". ", " - "], n)
    texts = np.empty(n, dtype=object)
    for i in range(n):
        lang, tone = langs[i], tone_of[cats[i]]
        options = templates[cats[i]][lang]
        template, fields = options[int(u_template[i] * len(options))]
        text = template.format_map({f: slots[f][i] for f in fields})
        if lang == "es" and fields:  # "de" + "el plan" -> "del plan", "a" + "el" -> "al"
            text = _SPANISH_CONTRACTION.sub(lambda m: m.group(1) + "l", text)
        if text[-1] not in "?!":
            ends = END_PUNCTUATION[tone]
            text += ends[int(u_end[i] * len(ends))]
        if has_follow_up[i]:
            clauses = follow_ups[cats[i]][lang]
            text = text + _joiner(text, follow_up_sep[i]) + clauses[int(u_follow_up[i] * len(clauses))]
        if has_opener[i]:
            openers = OPENERS[lang]
            text = openers[int(u_open[i] * len(openers))] + opener_sep[i] + text
        if has_closer[i]:
            closers = CLOSERS[lang][tone]
            text = text + _joiner(text, closer_sep[i]) + closers[int(u_close[i] * len(closers))]
        texts[i] = text[0].upper() + text[1:] if capitalize[i] else text
    return texts


def _joiner(text: str, separator: str) -> str:
    """`separator`, or a plain space when `text` already ends with punctuation (no "!!, thanks")."""
    return " " if text[-1:] in ".!?" else separator


# ------------------------------------------------------------------------------------------------------ noise
def _code_switch(rng, texts, langs, tones, rows) -> None:
    """Swap one word for its other-language twin (half the time, when one is present) or add a foreign tail."""
    for i in rows:
        text, lang = texts[i], langs[i]
        swap, u_word = rng.random() < 0.5, rng.random()
        sep, tail = _choice(rng, [", ", " ", "... ", " - "]), _choice(rng, CODE_SWITCH_TAILS[lang][tones[i]])
        present = [w for w in CODE_SWITCH_WORDS[lang] if re.search(rf"\b{w}\b", text)]
        if swap and present:
            word = present[int(u_word * len(present))]
            texts[i] = re.sub(rf"\b{word}\b", CODE_SWITCH_WORDS[lang][word], text, count=1)
        else:
            texts[i] = text + _joiner(text, sep) + tail


def _add_mentions(rng, texts, rows) -> None:
    """Address the brand (or, now and then, another user) at the start or the end."""
    for i in rows:
        brand, brand_handle, user_handle = rng.random() < 0.85, _choice(rng, MENTIONS), _choice(rng, USER_HANDLES)
        handle = brand_handle if brand else "@" + user_handle
        texts[i] = f"{handle} {texts[i]}" if rng.random() < 0.6 else f"{texts[i]} {handle}"


def _add_hashtags(rng, texts, cats, tones, rows, by_category=HASHTAGS["category"]) -> None:
    """Append one or two hashtags matching the category or the tone (CamelCase ones included)."""
    for i in rows:
        pool = by_category[cats[i]] + HASHTAGS["tone"][tones[i]]
        tags = rng.choice(pool, size=int(rng.integers(1, 3)), replace=False)
        texts[i] = texts[i] + " " + " ".join(tags)


def _add_emojis(rng, texts, tones, rows) -> None:
    """Append (mostly) or prepend 1-3 emojis matching the tone."""
    for i in rows:
        emojis = "".join(rng.choice(EMOJIS[tones[i]], size=int(rng.integers(1, 4))))
        texts[i] = f"{texts[i]} {emojis}" if rng.random() < 0.8 else f"{emojis} {texts[i]}"


def _random_url(rng) -> str:
    """A shortened link or a link to an order/screenshot page (reserved .example domains)."""
    kind = int(rng.integers(3))
    if kind == 0:
        return "https://t.co/" + "".join(rng.choice(URL_SHORT_CHARS, size=10))
    if kind == 1:
        return f"https://lumo.example/orders/{int(rng.integers(100_000, 100_000_000))}"
    return "https://img.example/" + "".join(rng.choice(URL_SHORT_CHARS, size=8)) + ".jpg"


def _add_urls(rng, texts, rows) -> None:
    """Append a link, as people do with screenshots and order pages."""
    for i in rows:
        texts[i] = f"{texts[i]} {_random_url(rng)}"


def _elongate(rng, texts, rows) -> None:
    """Stretch the last vowel of one word ("hola" -> "holaaaa"); skips handles, hashtags and links."""
    for i in rows:
        text, u_word, extra = texts[i], rng.random(), 3 + int(rng.random() * 4)
        words = [m for m in _WORD.finditer(text)
                 if _VOWELS & set(m.group()) and not _in_handle_or_link(text, m.start())]
        if not words:
            continue
        m = words[int(u_word * len(words))]
        word = m.group()
        pos = max(j for j, ch in enumerate(word) if ch in _VOWELS)
        stretched = word[:pos + 1] + word[pos] * extra + word[pos + 1:]
        texts[i] = text[:m.start()] + stretched + text[m.end():]


def _in_handle_or_link(text: str, pos: int) -> bool:
    """Whether position `pos` lies in a @mention, #hashtag or URL (the whitespace-delimited chunk's start says)."""
    chunk = text[text.rfind(" ", 0, pos) + 1:]
    return chunk.startswith(("@", "#", "http"))


def _shout(rng, texts, rows) -> None:
    """ALL CAPS anger, sometimes with extra exclamation marks."""
    for i in rows:
        texts[i] = texts[i].upper() + ("!!!" if rng.random() < 0.5 else "")


def _add_typos(rng, texts, rows) -> None:
    """One or two slips between adjacent letters: swap them, drop one, or type one twice."""
    for i in rows:
        text, two = texts[i], rng.random() < 0.3
        for u_spot, u_op in rng.random((2 if two else 1, 2)):
            spots = [j for j in range(len(text) - 1) if text[j].isalpha() and text[j + 1].isalpha()]
            if not spots:
                break
            j = spots[int(u_spot * len(spots))]
            op = int(u_op * 3) if text[j] != text[j + 1] else 1  # swapping equal letters changes nothing
            if op == 0:
                text = text[:j] + text[j + 1] + text[j] + text[j + 2:]
            elif op == 1:
                text = text[:j] + text[j + 1:]
            else:
                text = text[:j] + text[j] + text[j:]
        texts[i] = text


def _near_edit(rng, text: str) -> str:
    """A small edit that keeps the message recognisable: punctuation, case, a repeated word, a digit, a suffix."""
    op, u_digit = int(rng.random() * 5), rng.random()
    mark, suffix = _choice(rng, ["!", "!!", "?", "..."]), _choice(rng, NEAR_DUPLICATE_SUFFIXES)
    if op == 0:
        edited = text + mark
    elif op == 1:
        edited = text.rstrip("!.?") if text[-1:] in "!.?" else text + "."
    elif op == 2:
        edited = text[:1].swapcase() + text[1:]
    elif op == 3:
        digits = [j for j, ch in enumerate(text) if ch.isdigit()]
        j = digits[int(u_digit * len(digits))] if digits else -1
        edited = text[:j] + str((int(text[j]) + 1) % 10) + text[j + 1:] if digits else text + " " + text.split()[-1]
    else:
        edited = f"{text} {suffix}"
    return edited if edited != text else text + "!"


def _copy_earlier(rng, kind: str, texts, carried: list[np.ndarray], targets: np.ndarray) -> None:
    """Make each target row repeat a recent earlier message (retweet, exact or near duplicate), keeping its
    label and language. Rows go in order, so a copy of a copy is well defined."""
    for p in targets:
        q = int(rng.integers(max(0, p - 500), p))
        if kind == "retweet":
            texts[p] = f"RT @{_choice(rng, USER_HANDLES)}: {texts[q]}"
        elif kind == "near_duplicate":
            texts[p] = _near_edit(rng, texts[q])
        else:
            texts[p] = texts[q]
        for column in carried:
            column[p] = column[q]


# -------------------------------------------------------------------------------------------------- malformed
def _inject_malformed(rng, columns: dict[str, np.ndarray], k: int) -> dict[str, int]:
    """Turn k rows (never row 0) into malformed rows, MALFORMED_REASONS split evenly; return counts per reason.

    Each row breaks exactly one rule. Messages with no underlying message (url/emoji-only, other language,
    empty) get an empty label; the others keep the label of the message they started from.
    """
    n = len(columns["id"])
    k = min(k, max(n - 1, 0))
    positions = np.sort(rng.choice(np.arange(1, n), size=k, replace=False)) if k else np.empty(0, dtype=int)
    reasons = rng.permutation(np.resize(np.array(MALFORMED_REASONS, dtype=object), k))
    malformed = set(positions.tolist())
    ids, texts, labels, langs = columns["id"], columns["text"], columns["label"], columns["lang"]
    for p, reason in zip(positions.tolist(), reasons):
        if reason == "missing_id":
            ids[p] = None if rng.random() < 0.7 else ""
        elif reason == "missing_text":
            texts[p] = None
        elif reason == "invalid_type":
            if rng.random() < 0.5:
                texts[p] = int(rng.integers(0, 100_000))  # a number where text should be (JSON keeps it)
            else:
                columns["created_at"][p] = _choice(rng, BAD_TIMESTAMPS)
        elif reason == "control_characters":  # pasted into the middle of the message
            cut = int(rng.integers(0, len(texts[p]) + 1))
            texts[p] = texts[p][:cut] + _choice(rng, CONTROL_CHARACTER_INSERTS) + texts[p][cut:]
        elif reason == "duplicate_id":
            earlier = [q for q in range(max(0, p - 500), p) if q not in malformed]
            ids[p] = ids[earlier[int(rng.integers(len(earlier)))]] if earlier else ids[0]
        elif reason == "empty_text":
            texts[p], labels[p], langs[p] = _choice(rng, WHITESPACE_TEXTS), "", None
        elif reason == "text_too_long":
            texts[p] = _too_long(rng, texts[p])
        elif reason == "url_only":
            urls = " ".join(_random_url(rng) for _ in range(int(rng.integers(1, 3))))
            texts[p], labels[p], langs[p] = urls, "", None
        elif reason == "emoji_only":
            texts[p], labels[p], langs[p] = _choice(rng, EMOJI_ONLY_TEXTS), "", None
        elif reason == "unsupported_language":
            other = _choice(rng, list(OTHER_LANGUAGE_TEXTS))
            texts[p], labels[p], langs[p] = _choice(rng, OTHER_LANGUAGE_TEXTS[other]), "", "other"
    return {r: int(np.sum(reasons == r)) for r in MALFORMED_REASONS}


def _too_long(rng, text: str) -> str:
    """The message followed by a pasted log or a repeated rant, between 1001 and 3000 characters."""
    target = int(rng.integers(contract.DEFAULT_MAX_TEXT_CHARS + 1, 3001))
    filler = LOG_LINES if rng.random() < 0.5 else [text]
    parts, length, j = [text], len(text), 0
    while length <= target:
        parts.append(filler[j % len(filler)])
        length += len(parts[-1]) + 1
        j += 1
    return "\n".join(parts)[:target]


# ---------------------------------------------------------------------------------------------------- writers
def write_demo_data(df: pd.DataFrame, path: str | os.PathLike, *, raw_defects: bool = False) -> dict:
    """Write `df` atomically in the format named by the extension: .csv, .jsonl, .json ({"data": [...]}), .parquet.

    raw_defects=True (the CLI demo should default to it) also replaces a few otherwise clean rows
    (RAW_DEFECT_SHARE each, at least one) with what only raw bytes can carry: latin-1 encoded rows
    (`invalid_encoding`, CSV and JSON Lines), truncated JSON lines (JSON Lines) and lines with an extra field
    (CSV), all `malformed_record`; JSON and Parquet cannot hold them and are written clean. Expected quarantine
    counts are then df.attrs["malformed_counts"] plus these. Returns
    {"path", "format", "rows", "raw_defects": {reason: [0-based row positions]}}.

    What each format can represent: CSV writes a missing and an empty text alike (an empty field) and a number
    in `text` as digits; Parquet's typed columns also turn that number into a string; JSON and JSON Lines keep
    it a number and leave missing fields out.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    writers: dict[str, Callable[[pd.DataFrame, Path, dict], None]] = {
        "csv": _write_csv, "jsonl": _write_jsonl, "json": _write_json, "parquet": _write_parquet}
    if fmt not in writers:
        raise ValueError(f"unsupported extension {path.suffix!r} for {path}; use one of .{', .'.join(writers)}")
    defects = _raw_defect_rows(df, fmt) if raw_defects and fmt in ("csv", "jsonl") else {}
    _atomic_write(path, lambda tmp: writers[fmt](df, tmp, defects))
    return {"path": str(path), "format": fmt, "rows": len(df),
            "raw_defects": {reason: sorted(rows) for reason, rows in defects.items()}}


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary file in the target's folder, flush it to disk, then rename it over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _raw_defect_rows(df: pd.DataFrame, fmt: str) -> dict[str, list[int]]:
    """Rows to corrupt, evenly spread over the otherwise clean rows (so each row still has one reason): those
    whose text latin-1 encodes with accents (invalid UTF-8 bytes) for `invalid_encoding`, others for
    `malformed_record`."""
    k = max(1, round(len(df) * RAW_DEFECT_SHARE)) if len(df) else 0
    clean = _clean_rows(df)
    latin1 = clean & df["text"].map(lambda t: isinstance(t, str) and not t.isascii() and _latin1_encodable(t))

    def spread(pool: np.ndarray) -> list[int]:
        """min(k, len(pool)) positions evenly spaced through `pool`."""
        return sorted({int(pool[j]) for j in np.linspace(0, len(pool) - 1, min(k, len(pool))).astype(int)})

    encoding_rows = spread(np.flatnonzero(latin1.to_numpy())) if latin1.any() else []
    record_pool = np.setdiff1d(np.flatnonzero(clean.to_numpy()), encoding_rows)
    return {"invalid_encoding": encoding_rows, "malformed_record": spread(record_pool) if len(record_pool) else []}


def _clean_rows(df: pd.DataFrame) -> pd.Series:
    """Rows that break no rule: unique non-empty id, ISO created_at, a labelled one-line text within the limit
    (one line and no quotes, so the unquoted CSV line stays on one line)."""
    ids = df["id"].map(lambda v: isinstance(v, str) and v != "") & ~df["id"].duplicated(keep=False)
    text_ok = df["text"].map(lambda t: isinstance(t, str) and t.strip() != "" and "\n" not in t and '"' not in t
                             and len(t) <= contract.DEFAULT_MAX_TEXT_CHARS)
    stamp_ok = df["created_at"].map(lambda v: isinstance(v, str) and bool(_ISO_UTC.fullmatch(v))) \
        if "created_at" in df else True
    labelled = df["label"].map(lambda v: isinstance(v, str) and v != "") if "label" in df else True
    return ids & text_ok & stamp_ok & labelled


def _latin1_encodable(text: str) -> bool:
    """Whether latin-1 can encode `text` (no emojis or other characters beyond U+00FF)."""
    try:
        text.encode("latin-1")
        return True
    except UnicodeEncodeError:
        return False


def _write_csv(df: pd.DataFrame, tmp: Path, defects: dict[str, list[int]]) -> None:
    """UTF-8 CSV with a header; defect rows are written latin-1 encoded or with extra, unquoted fields."""
    special = {p: reason for reason, rows in defects.items() for p in rows}
    with open(tmp, "wb") as out:
        out.write(df.iloc[:0].to_csv(index=False, lineterminator="\n").encode("utf-8"))
        start = 0
        for p in sorted(special):
            out.write(df.iloc[start:p].to_csv(index=False, header=False, lineterminator="\n").encode("utf-8"))
            line = df.iloc[[p]].to_csv(index=False, header=False, lineterminator="\n")
            if special[p] == "invalid_encoding":
                out.write(line.encode("latin-1"))
            else:  # fields joined without quoting plus a stray column: the classic hand-made CSV export bug
                values = ["" if pd.isna(v) else str(v) for v in df.iloc[p].tolist()]
                out.write((",".join(values) + ",see attachment\n").encode("utf-8"))
            start = p + 1
        out.write(df.iloc[start:].to_csv(index=False, header=False, lineterminator="\n").encode("utf-8"))


def _records(df: pd.DataFrame) -> list[dict]:
    """Row dicts for JSON: absent or null values are left out (an absent field, as real APIs send it)."""
    return [{k: v for k, v in rec.items() if not (v is None or (isinstance(v, float) and np.isnan(v)))}
            for rec in df.to_dict("records")]


def _write_jsonl(df: pd.DataFrame, tmp: Path, defects: dict[str, list[int]]) -> None:
    """UTF-8 JSON Lines; defect rows are written latin-1 encoded or cut off mid-record."""
    special = {p: reason for reason, rows in defects.items() for p in rows}
    with open(tmp, "wb") as out:
        for p, rec in enumerate(_records(df)):
            line = json.dumps(rec, ensure_ascii=False)
            if special.get(p) == "invalid_encoding":
                out.write(line.encode("latin-1") + b"\n")
            elif special.get(p) == "malformed_record":
                out.write(line[: len(line) // 2].encode("utf-8") + b"\n")  # a truncated record
            else:
                out.write(line.encode("utf-8") + b"\n")


def _write_json(df: pd.DataFrame, tmp: Path, defects: dict[str, list[int]]) -> None:
    """A Twitter API v2 style document: {"data": [records], "meta": {"result_count": n}} (contract field names)."""
    document = {"data": _records(df), "meta": {"result_count": len(df)}}
    tmp.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def _write_parquet(df: pd.DataFrame, tmp: Path, defects: dict[str, list[int]]) -> None:
    """Parquet; its typed columns cannot hold a number in `text`, so such values are written as strings."""
    df = df.assign(text=df["text"].map(lambda t: t if t is None or isinstance(t, str) or pd.isna(t) else str(t)))
    df.to_parquet(tmp, index=False)
