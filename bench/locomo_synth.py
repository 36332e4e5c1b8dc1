"""A seeded, synthetic long-term conversation benchmark shaped like LoCoMo / LongMemEval.

SYNTHETIC: every turn comes from templates filled from small name/place/thing pools with a seeded
RNG. Vocabulary is narrow and the evidence sentences are cleaner than real chat, so absolute
recall figures are optimistic compared with the real sets; what the set is good for is comparing
retrieval methods on the same data and catching regressions. The output has LoCoMo's shape, so
the real ``locomo10.json`` can be swapped in (``bench/memory.py --dataset FILE``).

Shape (one sample)::

    {"sample_id": "synth-<seed>",
     "conversation": {"speaker_a": "Sam", "speaker_b": "Assistant",
                      "session_1_date_time": "2024-01-05T19:00:00+00:00",
                      "session_1": [{"speaker": "Sam", "dia_id": "D1:1", "text": "..."}], ...},
     "qa": [{"question": "...", "answer": "...", "evidence": ["D3:4"], "category": "single-hop",
             "superseded": ["D1:7"]  # knowledge-update only: the turn with the old value
            }, ...]}

Categories: single-hop, multi-hop, temporal, knowledge-update, unanswerable (evidence: []).

    python -m bench.locomo_synth --seed 7 --out /tmp/synth.json
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

NAMES = [
    "Lena", "Omar", "Priya", "Jonas", "Mei", "Carlos", "Aisha", "Tomas", "Hana", "Felix", "Nadia", "Kofi",
    "Ingrid", "Ravi", "Sofia", "Yusuf", "Elif", "Marek", "Noor", "Bruno", "Chidi", "Greta", "Hugo", "Lars",
    "Maya", "Nils", "Olga", "Pablo", "Rosa", "Stefan", "Tara", "Umar", "Vera", "Wen", "Xavier", "Yara",
    "Zane", "Anouk", "Bilal", "Clara", "Dario", "Esme", "Farid", "Gwen", "Imre", "Jada", "Kenji", "Lior",
]
RELATIONS = ["sister", "brother", "cousin", "colleague", "neighbour", "old friend", "mentor", "flatmate"]
CITIES = [
    "Porto", "Lyon", "Krakow", "Osaka", "Valencia", "Tallinn", "Leeds", "Graz", "Bergen", "Turin", "Ghent",
    "Brno", "Aarhus", "Bilbao", "Cork", "Dresden", "Split", "Utrecht", "Tampere", "Lausanne", "Malmo", "Pula",
]
COMPANIES = [
    "Atlas Robotics", "Blue Fern Labs", "Northwind Foods", "Quill Analytics", "Helio Grid", "Cobalt Games",
    "Mosaic Health", "Tern Logistics", "Juniper Bank", "Orbit Textiles", "Kestrel Audio", "Lumen Print",
    "Marble Cloud", "Nimbus Farms", "Pioneer Glass", "Saffron Media", "Tidal Motors", "Vesper Optics",
    "Willow Studios", "Zephyr Drones", "Amber Pharma", "Boreal Timber", "Cinder Forge", "Delta Seeds",
    "Ember Coffee", "Fjord Shipping", "Granite Insurance", "Harbor Biotech", "Ivy Publishing", "Jade Ceramics",
    "Keystone Rail", "Lark Telecom", "Maple Robotics", "Nova Batteries", "Onyx Security",
]
INSTRUMENTS = ["cello", "trumpet", "banjo", "harp", "oboe", "drums", "accordion", "ukulele", "viola", "sitar"]
PETS = ["Biscuit", "Pixel", "Mango", "Juniper", "Waffles", "Nori", "Pepper", "Socks", "Tofu", "Ziggy"]
ANIMALS = ["dog", "cat", "parrot", "rabbit", "tortoise", "ferret", "hamster", "gecko"]
ACTIVITIES = [
    ("went kayaking on Lake Bled", "go kayaking", "kayaking trip"),
    ("ran a half marathon in Seville", "run the half marathon", "half marathon"),
    ("visited the Rijksmuseum with my nephew", "visit the Rijksmuseum", "museum visit"),
    ("fixed the leaking roof of the garden shed", "repair the shed roof", "shed repair"),
    ("baked sourdough bread for the first time", "first bake sourdough", "first sourdough"),
    ("saw a live jazz concert at the Blue Note", "attend the jazz concert", "jazz concert"),
    ("climbed Ben Nevis in the fog", "climb Ben Nevis", "Ben Nevis climb"),
    ("adopted a rescue greyhound named Comet", "adopt the greyhound", "greyhound adoption"),
    ("passed my motorcycle licence test", "pass the motorcycle test", "motorcycle licence"),
    ("flashed a new BIOS on the storage server", "update the storage server firmware", "BIOS update"),
    ("planted three apple trees in the orchard", "plant the apple trees", "orchard planting"),
    ("went to a pottery workshop in Stoke", "attend the pottery workshop", "pottery class"),
    ("replaced the UPS batteries in the rack", "swap the UPS batteries", "UPS battery swap"),
    ("watched the solar eclipse from the roof", "watch the eclipse", "eclipse viewing"),
    ("gave a talk about NixOS at the local meetup", "present at the NixOS meetup", "meetup talk"),
    ("repainted the kitchen in sage green", "repaint the kitchen", "kitchen painting"),
    ("sold my old road bike on a forum", "sell the road bike", "bike sale"),
    ("hosted a board game night with twelve people", "host the board game night", "game night"),
    ("migrated the home wiki to a new server", "move the wiki", "wiki migration"),
    ("tried indoor bouldering at a new gym", "go bouldering", "bouldering session"),
    ("finished reading a long novel about whalers", "finish the whaling novel", "novel finished"),
    ("went snorkelling off the coast of Malta", "go snorkelling", "snorkelling trip"),
    ("brewed a batch of ginger beer", "brew ginger beer", "ginger beer batch"),
    ("installed solar panels on the garage", "get the solar panels installed", "solar install"),
    ("attended my cousin's wedding in Galway", "go to the wedding in Galway", "Galway wedding"),
    ("built a birdhouse with my niece", "build the birdhouse", "birdhouse project"),
    ("took a night train to Vienna", "travel to Vienna by night train", "Vienna trip"),
    ("swapped the router for an OpenWrt box", "replace the router", "router swap"),
    ("learned to make fresh pasta", "learn pasta making", "pasta lesson"),
    ("did a 24-hour charity livestream", "run the charity stream", "charity livestream"),
    ("got a new prescription for reading glasses", "get new glasses", "eye test"),
    ("volunteered at the food bank on Saturday", "volunteer at the food bank", "food bank shift"),
]
UPDATES = [
    ("text editor", ["Vim", "Helix", "Emacs", "VS Code", "Zed", "Kakoune"]),
    ("login shell", ["bash", "fish", "zsh", "nushell", "elvish"]),
    ("Linux distribution on the laptop", ["Ubuntu", "NixOS", "Fedora", "Arch", "Debian"]),
    ("morning coffee", ["espresso", "pour-over", "cold brew", "French press", "flat white"]),
    ("phone", ["Pixel 7", "iPhone 13", "Fairphone 5", "OnePlus 11"]),
    ("car", ["Golf", "Model 3", "Zoe", "Ioniq 5", "Corolla"]),
    ("gym", ["Iron Temple", "Peak Fitness", "Core Club", "Pulse Gym"]),
    ("language course", ["Spanish", "Japanese", "Polish", "Finnish", "Korean"]),
    ("password manager", ["KeePassXC", "Bitwarden", "1Password", "pass"]),
    ("note-taking app", ["Obsidian", "Logseq", "Joplin", "org-mode"]),
    ("keyboard", ["Ergodox", "Moonlander", "Corne", "HHKB", "Kinesis"]),
    ("running shoes", ["Pegasus", "Ghost", "Clifton", "Novablast"]),
    ("backup tool", ["restic", "borg", "rsnapshot", "kopia"]),
    ("monitor", ["Dell U2723", "LG 27GP850", "BenQ PD2705", "Eizo EV2760"]),
    ("podcast app", ["AntennaPod", "Pocket Casts", "Overcast"]),
    ("bank", ["Juniper Bank", "Triodos", "N26", "Monzo"]),
    ("dentist", ["Dr. Alvarez", "Dr. Kim", "Dr. Okafor", "Dr. Lund"]),
    ("home router firmware", ["OpenWrt", "OPNsense", "stock firmware", "pfSense"]),
    ("VPN", ["WireGuard", "Tailscale", "OpenVPN", "Nebula"]),
    ("desk chair", ["Aeron", "Steelcase Leap", "IKEA Markus", "HAG Capisco"]),
    ("streaming service", ["Netflix", "Mubi", "Disney+", "Criterion Channel"]),
    ("bike", ["Brompton", "Canyon Grail", "Surly Cross-Check", "Trek FX"]),
    ("tea", ["sencha", "Earl Grey", "rooibos", "oolong"]),
    ("hosting provider", ["Hetzner", "OVH", "Scaleway", "a home server"]),
    ("camera", ["Fuji X100V", "Sony A7C", "Ricoh GR III", "Canon R8"]),
    ("headphones", ["Sony XM5", "Bose QC45", "Sennheiser HD600", "AirPods Pro"]),
    ("email provider", ["Fastmail", "Proton Mail", "Gmail", "Migadu"]),
    ("music player", ["Navidrome", "Spotify", "Jellyfin", "foobar2000"]),
    ("browser", ["Firefox", "Chromium", "LibreWolf", "Vivaldi"]),
    ("meal kit", ["HelloFresh", "Gousto", "Mindful Chef", "no meal kit"]),
    ("language for side projects", ["Rust", "Go", "Python", "Zig"]),
    ("calendar app", ["Thunderbird", "Fantastical", "GNOME Calendar", "khal"]),
]
FILLER_SAM = [
    "Long day today, the meetings just kept coming.",
    "I think it might rain again this weekend.",
    "Can you remind me to water the plants later?",
    "I'm a bit tired, probably going to bed early.",
    "The new season of that series is out, I might watch it tonight.",
    "Work was fine, nothing special happened.",
    "I had pasta for dinner, nothing fancy.",
    "Do you think I should reorganise the bookshelf?",
    "My {rel} {name} called, we talked about {city} for a while.",
    "{name} sent me photos from a trip to {city}.",
    "I keep thinking about a weekend away in {city}.",
    "{name} recommended a restaurant, I forgot the name already.",
    "The homelab fans are loud again, maybe dust.",
    "I read an article about {company} this morning.",
    "Someone at the meetup mentioned {company} is hiring.",
    "My {rel} {name} might visit next month, not sure yet.",
    "I should really update the notes for the visual novel project.",
    "The storage node finished its scrub without errors.",
]
FILLER_BOT = [
    "That sounds like a good plan.",
    "Noted. Anything else you want me to keep in mind?",
    "I hope you get some rest tonight.",
    "Happy to help with that whenever you like.",
    "Got it, I'll remember that.",
    "Interesting! Tell me more if you like.",
    "Sure, I can set a reminder for that.",
    "That must have been nice.",
]


@dataclass
class Turn:
    speaker: str
    text: str
    dia_id: str = ""


@dataclass
class Plan:
    sessions: list[list[Turn]]
    dates: list[datetime]
    qa: list[dict[str, Any]] = field(default_factory=list)


def _place(rng: random.Random, plan: Plan, session: int, text: str) -> Turn:
    """Insert a Sam turn (and an assistant ack) at a random position of a session."""
    turn = Turn("Sam", text)
    s = plan.sessions[session]
    pos = rng.randrange(0, len(s) + 1)
    s[pos:pos] = [turn, Turn("Assistant", rng.choice(FILLER_BOT))]
    return turn


def generate(seed: int = 7, sessions: int = 24, filler_per_session: int = 10) -> dict[str, Any]:
    rng = random.Random(seed)
    start = datetime(2024, 1, 5, 19, 0, tzinfo=UTC)
    dates = []
    t = start
    for _ in range(sessions):
        dates.append(t)
        t += timedelta(days=rng.randint(5, 12), hours=rng.randint(-3, 3))
    plan = Plan([[] for _ in range(sessions)], dates)
    for s in range(sessions):
        for _ in range(filler_per_session):
            tmpl = rng.choice(FILLER_SAM)
            text = tmpl.format(
                rel=rng.choice(RELATIONS), name=rng.choice(NAMES), city=rng.choice(CITIES),
                company=rng.choice(COMPANIES),
            )
            plan.sessions[s] += [Turn("Sam", text), Turn("Assistant", rng.choice(FILLER_BOT))]

    names = NAMES[:]
    rng.shuffle(names)
    used_names = names[:40]
    unused_names = names[40:]
    pending: list[tuple[Turn | list[Turn], dict[str, Any]]] = []

    # single-hop: one fact, one question (4 templates)
    for i in range(40):
        name, rel = used_names[i], rng.choice(RELATIONS)
        kind = i % 4
        sess = rng.randrange(sessions)
        if kind == 0:
            city = rng.choice(CITIES)
            fact = f"My {rel} {name} moved to {city} last spring and loves it there."
            q, a = f"Which city does Sam's {rel} {name} live in?", city
        elif kind == 1:
            inst = rng.choice(INSTRUMENTS)
            fact = f"{name} has been playing the {inst} in an amateur orchestra for years."
            q, a = f"What instrument does {name} play?", inst
        elif kind == 2:
            pet, animal = rng.choice(PETS), rng.choice(ANIMALS)
            fact = f"{name} got a {animal} and named it {pet}."
            q, a = f"What is the name of {name}'s {animal}?", pet
        else:
            month = rng.choice(["March", "May", "July", "September", "November", "February"])
            fact = f"Don't let me forget: {name}'s birthday is in {month}."
            q, a = f"In which month is {name}'s birthday?", month
        turn = _place(rng, plan, sess, fact)
        pending.append((turn, {"question": q, "answer": a, "category": "single-hop"}))

    # multi-hop: person -> company (one session), company -> city (another session)
    companies = COMPANIES[:]
    rng.shuffle(companies)
    for i in range(35):
        name, company, city = used_names[(i * 7) % 40], companies[i], rng.choice(CITIES)
        s1, s2 = rng.sample(range(sessions), 2)
        t1 = _place(rng, plan, s1, f"{name} just started a new job at {company}.")
        t2 = _place(rng, plan, s2, f"Fun fact: {company} has its headquarters in {city}.")
        pending.append(
            ([t1, t2], {"question": f"In which city is the headquarters of the company {name} works for?",
                        "answer": city, "category": "multi-hop"})
        )

    # temporal: dated events, "when" questions (answer: the day before the session)
    acts = ACTIVITIES[:]
    rng.shuffle(acts)
    for i in range(30):
        did, do, _label = acts[i % len(acts)]
        sess = rng.randrange(sessions)
        turn = _place(rng, plan, sess, f"Yesterday I {did}.")
        day = (dates[sess] - timedelta(days=1)).date().isoformat()
        pending.append((turn, {"question": f"When did Sam {do}?", "answer": day, "category": "temporal",
                               "_session": sess}))

    # knowledge-update: an old value, later replaced; the question asks for the current one
    ups = UPDATES[:]
    rng.shuffle(ups)
    for i in range(30):
        thing, values = ups[i % len(ups)]
        old, new = rng.sample(values, 2)
        s1, s2 = sorted(rng.sample(range(sessions), 2))
        t_old = _place(rng, plan, s1, f"For the record, my {thing} is {old} at the moment.")
        style = i % 3
        if style == 0:
            text = f"Update: I replaced {old} with {new} as my {thing}."
        elif style == 1:
            text = f"These days my {thing} is {new}; I gave up on {old}."
        else:
            text = f"I switched my {thing} to {new} last week."
        t_new = _place(rng, plan, s2, text)
        pending.append((t_new, {"question": f"What is Sam's current {thing}?", "answer": new,
                                "category": "knowledge-update", "_old": t_old}))

    # unanswerable: about people or things never mentioned
    for i in range(20):
        name = unused_names[i % len(unused_names)]
        rel = rng.choice(RELATIONS)
        q = [f"Which city does Sam's {rel} {name} live in?", f"What instrument does {name} play?",
             f"What is the name of {name}'s {rng.choice(ANIMALS)}?", f"Where does {name} work?"][i % 4]
        pending.append(([], {"question": q, "answer": None, "category": "unanswerable"}))

    conv: dict[str, Any] = {"speaker_a": "Sam", "speaker_b": "Assistant"}
    for si, turns in enumerate(plan.sessions, 1):
        for ti, turn in enumerate(turns, 1):
            turn.dia_id = f"D{si}:{ti}"
        conv[f"session_{si}_date_time"] = dates[si - 1].isoformat()
        conv[f"session_{si}"] = [{"speaker": t.speaker, "dia_id": t.dia_id, "text": t.text} for t in turns]
    qa = []
    for ev, q in pending:
        turns = ev if isinstance(ev, list) else [ev]
        item = {k: v for k, v in q.items() if not k.startswith("_")}
        item["evidence"] = [t.dia_id for t in turns]
        if "_old" in q:
            item["superseded"] = [q["_old"].dia_id]
        qa.append(item)
    return {"sample_id": f"synth-{seed}", "conversation": conv, "qa": qa}


def turns_of(sample: dict[str, Any]) -> list[tuple[str, str, str, datetime]]:
    """(dia_id, speaker, text, session time) for every turn, in order (works on real LoCoMo too)."""
    conv = sample["conversation"]
    out = []
    i = 1
    while f"session_{i}" in conv:
        raw = conv[f"session_{i}_date_time"]
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:  # LoCoMo writes e.g. "1:56 pm on 8 May, 2023"
            when = datetime.strptime(raw, "%I:%M %p on %d %B, %Y")
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        for k, t in enumerate(conv[f"session_{i}"]):
            out.append((t["dia_id"], t["speaker"], t["text"], when + timedelta(seconds=30 * k)))
        i += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    sample = generate(args.seed)
    with open(args.out, "w") as fh:
        json.dump([sample], fh, indent=1)
    turns = turns_of(sample)
    cats: dict[str, int] = {}
    for q in sample["qa"]:
        cats[q["category"]] = cats.get(q["category"], 0) + 1
    print(f"{len(turns)} turns, {len(sample['qa'])} questions {cats} -> {args.out}")


if __name__ == "__main__":
    main()
