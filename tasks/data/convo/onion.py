"""The Onion's forms: headlines, invented witnesses and their deadpan quotes (no numbers: every number in an
answer is a tool figure).
"""

from __future__ import annotations

import random
import re

from tasks.data.convo.common import cap, expand

ONION_SUBJECTS = ["{Place} Residents", "Commuters In {Place}", "{Place} Dog Walkers", "Office Workers In {Place}", "{Place} Parents",
                  "Meteorologists In {Place}", "{Place} Cyclists", "Tourists In {Place}", "{Place} Retirees", "{Place} Teenagers",
                  "Local Men In {Place}", "{Place} Bus Drivers", "Joggers In {Place}", "{Place} Gardeners", "Pigeons Of {Place}"]
# predicates in three composable parts (plural verbs: every subject is plural)
ONION_PREDICATES = {
    "wet": (["Brace For", "Resigned To", "Quietly Accept", "Hold Emergency Meeting About", "Formally Object To", "Pretend To Enjoy"],
            ["Rain", "Damp Socks", "Sky Leaking Again", "Water Falling From Above", "Another Soggy Commute", "Puddle Season"],
            ["", "", "", ", Forget Umbrellas", ", Stay Home", ", Blame Each Other", " With Visible Reluctance", ", Demand Refund",
             ", Cancel Everything", ", Wring Out Socks", " Despite Owning Umbrellas"]),
    "snow": (["Cautiously Optimistic About", "Openly Divided Over", "Immediately Complain About", "Locate Shovels Ahead Of", "Photograph"],
             ["Snow Day", "Snow", "White Stuff On Cars", "Unplowed Pavements"], ["", "", ", Officials Silent", " Before Breakfast"]),
    "thunder": (["Advised To Hide From", "Count Seconds Between", "Unplug Everything Ahead Of", "Stay Indoors Through"],
                ["Loud Sky Noises", "Flashes", "Thunderstorms", "Afternoon Storms"], ["", ", Lose Count", ", Just In Case", ", Dog In Charge"]),
    "cold": (["Insist It's Fine", "Dig Out Coats", "Debate Gloves", "Report Visible Breath", "Negotiate With Radiators",
              "Deny Feeling Chilly", "Hug Radiators"], ["", " Moments Before Losing Feeling In Fingers", " With Visible Reluctance", " For Third Time Today",
              " Amid Chill"], ["", "", ", Deny Everything", ", Blame Wind"]),
    "hot": (["Demand Answers From", "Queue To Escape", "Hide From", "File Complaint About", "Negotiate With", "Wilt Under"],
            ["Sun", "Heat", "Afternoon Sun", "Scorching Pavements"], ["", "", ", Sun Declines Comment", ", Do Nothing, Slowly"]),
    "windy": (["Lose Hats To", "Chase Recycling Bins Through", "Report Umbrellas Defeated By", "Lean Into"],
              ["Gusts", "Wind", "Strong Breeze", "Aggressive Air"], ["", "", ", Dignity", ", Give Up On Hair"]),
    "fair": (["Stare Longingly At", "Suspicious Of", "Baffled By", "Quietly Enjoy", "Celebrate", "Refuse To Trust", "Photograph",
              "Grudgingly Admit Liking", "Take Long Lunches Over"],
             ["Pleasant Weather", "Perfectly Fine Sky", "Good Weather", "Sunny Day", "Nice Afternoon"],
             ["", "", " Through Office Window", ", Await Catch", " From Desks", ", Cancel Moaning"]),
    "mild": (["Report Weather Exists,", "Call Day 'Fine',", "Shrug At Sky,", "Find No Fault With Sky,", "Give Sky Lukewarm Review,",
              "Note Weather, Move Along,"], [""], [" Offer No Further Comment", " Keep Trying", " Return To Work", " Remain Unmoved",
              " Ask For Something More Interesting"]),
    "fog": (["Unable To See", "Wave At Strangers Hidden By", "Lose Track Of Buildings In"], ["Fog", "Grey Murk", "Across The Street"], ["", ", Carry On"]),
}


ONION_QUOTES = {
    "wet": ["I specifically washed my car for this", "I'll just run between the drops", "I'm choosing to see it as a free shower",
            "The umbrella lasted four minutes", "I've stopped pretending my shoes are waterproof", "The dog refuses to go out and I respect that",
            "My shoes have made their feelings clear", "I own four umbrellas and all of them are at the office",
            "At this point I'm more puddle than person"],
    "snow": ["I'm not shovelling until someone else does", "It's beautiful, and I hate it", "The kids have already unionised for a day off",
             "I've been told the car is under there somewhere"],
    "thunder": ["I've decided the dog is in charge now", "I was told there'd be a light show, not a lecture",
                "I unplugged the toaster, and honestly I feel safer", "The cat knew before any of us"],
    "cold": ["I'm fine, this is fine", "Nobody warned me about my ears", "I can no longer feel the keys in my pocket, or my pocket",
             "I've started negotiating with my radiator", "I refuse to be the first on my street to wear a hat"],
    "hot": ["I've stopped making plans that involve moving", "The pavement is now a stovetop", "I have been standing in the freezer aisle for an hour",
            "My sunglasses are sweating", "I'd complain, but that takes energy"],
    "windy": ["That was a very expensive hat", "My umbrella has gone to a better place", "I went out with a bin and came back with a neighbour's",
              "I've given up on my hair entirely"],
    "fair": ["I don't trust it", "I keep waiting for the catch", "Something this nice usually comes with a bill",
             "I've had to cancel an entire afternoon of moaning", "I've put sunglasses on and I feel like a fraud",
             "Everyone is being pleasant and it's unsettling", "I went outside on purpose, which is a first",
             "I've had to find new things to be annoyed about", "My umbrella feels abandoned"],
    "mild": ["It's weather, I suppose", "I had a complaint ready and nowhere to use it", "It's neither here nor there, much like me",
             "I put on a jacket, took it off, and put it back on", "Honestly, I've seen worse and I've seen better"],
    "fog": ["I walked into my own car", "I'm told the city is still there", "I waved at a lamppost for a full minute"],
}
ONION_ROLES = ["area resident", "local commuter", "retired dentist", "dog owner", "office manager", "cyclist", "part-time notary",
               "bus driver", "cafe owner", "amateur gardener", "self-described outdoors person", "substitute teacher", "area librarian",
               "regional sales manager", "local resident", "area shopkeeper", "neighbourhood watch member"]
ONION_FIRST = ["Dana", "Gary", "Priya", "Walt", "Maribel", "Tom", "Jess", "Kyle", "Renata", "Howard", "Aisha", "Bernard", "Lucía", "Doug"]
ONION_LAST = ["Kowalski", "Pruitt", "Raman", "Henning", "Ortiz", "Aldine", "Okafor", "Brandt", "Lindqvist", "Mbeki", "Fairweather",
              "Castellano", "Hughes", "Nakamura"]
ONION_VERBS = ["said", "told reporters", "added", "admitted", "explained", "confirmed", "noted", "sighed"]
ONION_TAILS = [""] * 40 + [", hands in pockets", ", shrugging", ", from a doorway", ", on a lunch break", ", who had not checked the forecast", ", visibly tired", ", from behind a window", ", clutching a thermos",
                           ", mid-errand", ", from a bus shelter", ", between sips of coffee", ", after some hesitation"]


def onion_headline(rng: random.Random, place: str, mood: str) -> str:
    if place[:1].islower():  # "your area": no name to put in a headline
        subject = rng.choice(["Area Residents", "Local Campers", "Nearby Hikers", "Local Commuters", "Area Dog Walkers"])
    else:
        subject = rng.choice(ONION_SUBJECTS).replace("{Place}", place)
    verb, obj, tail = (rng.choice(part) for part in ONION_PREDICATES.get(mood, ONION_PREDICATES["mild"]))
    return re.sub(r"\s+", " ", f"{subject} {verb} {obj}{tail}").replace(" ,", ",").strip(" ,")


ONION_COMPOSED = [
    "[I had planned to|I was going to|Honestly, I meant to|My plan was to|I'd promised myself I'd] [stay in and complain|mow the lawn|wash the car|do nothing at all|"
    "fix the gutter|walk to work|repaint the gate|sort the garage] [, and now|, but now|, so now|, which means] [I'm at a loose end|that's ruined|"
    "I've run out of excuses|I'm out of excuses|I have no excuse left|I have to rethink everything|my whole week is off|the afternoon is a write-off|I need a new plan|nobody believes me]",
    "[My neighbour|My husband|My wife|My boss|My mother|The dog] [says|insists|swears|keeps telling me] [it's fine|it'll clear up|it's my fault|"
    "this is normal|I'm overreacting] [, and frankly|, but honestly|, and to be fair|, though] [I'm not convinced|they may be right|I've heard that before|"
    "I've stopped listening|I've given up arguing]",
    "[Frankly|Look|Between you and me|To be honest], [I blame|I'm holding responsible|I've written to] [the council|my landlord|the sky|the mayor|"
    "whoever runs this|the weather people|the government|my neighbour's wind chimes] [and I expect|and I want|and I'm demanding] [an apology|answers|a refund|a full inquiry]",
    "[I checked|I looked at|I refreshed] [three apps|the forecast|my phone|the radio] [twice|all morning|before breakfast|on the bus] [and I still|and somehow I|"
    "yet I] [got it wrong|wore the wrong shoes|picked the wrong coat|ended up surprised|left the washing out|forgot my hat]",
]


def onion_witness(rng: random.Random, mood: str) -> str:
    """An invented witness with a deadpan quote (no ages: every number in an answer comes from a tool)."""
    if rng.random() < 0.65:
        quote = expand(rng, rng.choice(ONION_COMPOSED)).replace(" ,", ",")
    else:
        quote = rng.choice(ONION_QUOTES.get(mood, ONION_QUOTES["mild"]))
    tail = rng.choice(ONION_TAILS)
    who = f"{rng.choice(ONION_ROLES)} {rng.choice(ONION_FIRST)} {rng.choice(ONION_LAST)}{tail}"
    verb = rng.choice(ONION_VERBS)
    if rng.random() < 0.5:
        if verb == "told reporters":
            return f"\u201c{quote},\u201d {who}{',' if tail else ''} told reporters."
        return f"\u201c{quote},\u201d {verb} {who}."
    return f"{cap(who)}{',' if tail else ''} {verb}: \u201c{quote}.\u201d"


def onion_answer(rng: random.Random, place: str, mood: str, parts: list[str]) -> str:
    """A whole Onion weather answer around `parts` (the answering first sentence, then the other facts)."""
    witness = onion_witness(rng, mood)
    return onion_headline(rng, place, mood) + "\n\n" + " ".join(parts + [witness])
