"""Conversations with no tool call: greetings, thanks, capabilities, weather knowledge, off-topic requests
and questions with no place.
"""

from __future__ import annotations

from tasks.data import phrasing
from tasks.data.convo.common import THANKS, Conversation, expand, fill, mess
from tasks.data.convo.voice import ask_where, farewell

KNOWLEDGE = [
    (["What does a barometer measure?", "what's a barometer for"],
     ["A barometer measures air pressure. Falling pressure often means unsettled weather on the way; rising pressure usually means it's clearing."]),
    (["What's the difference between weather and climate?", "weather vs climate, what's the difference"],
     ["Weather is what the air is doing now and over the next days; climate is the long-run average of that weather for a place, over decades."]),
    (["What does a 40% chance of rain mean?", "what does 40 percent chance of rain actually mean"],
     ["It means that on days like this one, rain falls at any given spot on roughly four days in ten. It says nothing about how much rain, or for how long."]),
    (["What is wind chill?", "how does wind chill work"],
     ["Wind chill is how cold it feels on bare skin when wind carries heat away faster than still air would; the thermometer doesn't change, your skin does."]),
    (["Why does it get foggy?", "what causes fog"],
     ["Fog forms when air near the ground cools to its dew point and the water vapour condenses into tiny droplets: a cloud sitting at ground level."]),
    (["What causes thunder?", "why is there thunder"],
     ["Lightning heats the air around it so fast that the air expands with a bang; that shock wave is the thunder you hear."]),
    (["What's the dew point?", "what does dew point mean"],
     ["The dew point is the temperature to which air must cool for its moisture to condense. The closer it is to the air temperature, the muggier it feels."]),
    (["Why is the sky blue?", "why's the sky blue"],
     ["Air scatters short blue wavelengths of sunlight far more than red ones, so blue light reaches your eyes from every part of the sky."]),
    (["What's the difference between a watch and a warning?", "storm watch vs warning?"],
     ["A watch means conditions could produce the hazard, so stay alert; a warning means it is happening or about to, so act now."]),
    (["What is humidity?", "what does relative humidity mean"],
     ["Relative humidity is how much water vapour the air holds compared with the most it could hold at that temperature. High humidity makes heat feel heavier."]),
    (["How do you read a weather map?", "what do the lines on a weather map mean"],
     ["The lines are isobars, joining places of equal pressure; where they crowd together the wind is strong. H and L mark high and low pressure."]),
    (["What's a heat index?", "what is the heat index"],
     ["The heat index combines temperature and humidity into how hot it feels, because damp air slows the cooling of sweat."]),
]
KNOWLEDGE_TAILS = {
    "twain": ["[That much I can tell you without a tool|No instruments needed for that one]; [the weather itself|a forecast] [I'd have to look up|needs a city and a look].",
              "[I've found the science|I find the science of it] [a good deal more dependable than the weather|more reliable than the thing it studies]."],
    "franklin": ["[Understanding the sky|Knowing the why of it] [is the first step to dressing for it|saves more than it costs].",
                 "[Curiosity about the air|A question about the sky] [has served me well|never wasted a man's time]; [ask me for a city's weather|name a city] [whenever you like|and I'll look it up]."],
    "onion": ["[Scientists|Experts] [confirmed|stood by] the explanation [at press time|when reached for comment], [adding nothing further|declining to elaborate]."],
    "neutral": ["[If you'd like the weather for a particular place|For a forecast], [just name the city|tell me where]."],
}
CAPABILITY_Q = ["What can you do?", "how do you work", "Which tools do you have?", "What do you know about?", "Can you forecast a month ahead?",
                "can you do hourly forecasts?", "what are you?"]
OFF_TOPIC_Q = ["Can you recommend a good book?", "What's the capital of Australia?", "Write me a poem about cats.", "How do I bake bread?",
               "who won the football last night", "Can you help with my taxes?", "What's a good name for a dog?", "Translate 'hello' into French."]
GREETING_Q = ["Hi!", "hello", "Good morning!", "hey", "Hello, who are you?", "Good evening.", "yo", "Hi there, what's this?"]
HERE_Q = ["Is it going to rain?", "What's the weather like?", "will I need a coat", "How hot will it get today?", "Is it snowing?",
          "what's the weather near me", "is it raining where I am", "weather here?", "what's the forecast for my location"]


def capability_text(c: Conversation) -> str:
    rng = c.rng
    return expand(rng, rng.choice([
        "I [have|use|work with] three tools: one [finds|looks up] a place's coordinates, one [gives|reports] current conditions and one [gives|returns] [a day-by-day forecast|daily forecasts|a forecast by the day] [for up to|as far as|reaching] [two weeks|fourteen days] [ahead|out].",
        "I look places up [by name|with a geocoder|from their names], then [fetch|get|pull] current conditions or [a daily forecast|day-by-day figures|a forecast by day] [up to two weeks ahead|for up to fourteen days|as far as a fortnight out]; [no hourly figures, no history|nothing hourly and nothing from the past|no hours and no records of past weather].",
        "[Name|Give me|Tell me] a [city|town|place] and I'll [check|look up|fetch] its [current weather|weather right now] or [its forecast|a forecast] [up to|for as many as|for at most] [fourteen days|two weeks]; [I don't do hourly figures or past weather|hourly and historical figures are beyond my tools].",
    ]))


def scenario_no_tool(c: Conversation, tags: dict) -> None:
    rng, p = c.rng, c.persona
    variant = rng.choice(["greeting", "thanks", "capabilities", "off_topic", "missing_place", "missing_place", "knowledge", "knowledge", "knowledge"])
    tags["variant"] = variant
    lower = rng.random() < 0.3
    if variant == "greeting":
        c.user(mess(rng, c.pick(GREETING_Q), lower))
        text = " ".join([expand(rng, rng.choice(p.greetings)), capability_text(c),
                         expand(rng, "[Which city|Which town|What place|Which place] [would you like to know about|shall I look up|are you curious about|should I check first|is on your mind]?")])
    elif variant == "thanks":
        c.user(mess(rng, c.pick(THANKS), lower))
        text = farewell(c)
    elif variant == "capabilities":
        c.user(mess(rng, c.pick(CAPABILITY_Q), lower))
        text = capability_text(c)
        if p.humorous:
            text += " " + expand(rng, rng.choice(p.asides))
    elif variant == "off_topic":
        c.user(mess(rng, c.pick(OFF_TOPIC_Q), lower))
        text = expand(rng, rng.choice(p.asides)) + " " + expand(rng, rng.choice([
            "[Ask me about|Ask me for] [the weather|a forecast|current conditions] [anywhere|in any city|wherever you like|in any town on the map].",
            "[Name|Give me|Tell me] a [city|town|place] and I'll [give you|fetch|look up|get] its [weather|forecast|conditions][ right away|].",
        ]))
    elif variant == "knowledge":
        qs, answers = KNOWLEDGE[rng.randrange(len(KNOWLEDGE))]
        c.user(mess(rng, c.pick(qs), lower))
        text = rng.choice(answers)
        if p.humorous or rng.random() < 0.3:
            text += " " + expand(rng, rng.choice(KNOWLEDGE_TAILS[p.name]))
        if p.name == "onion":
            text = expand(rng, "[Sky|Weather|Atmosphere|Basic Meteorology] [Explained|Finally Explained|Demystified] [To Reader|In Plain Terms|Once Again], "
                               "[Public|Reader|Nation] [Remains Unconvinced|Nods Politely|Asks Follow-Up Question|Pretends To Understand]") + "\n\n" + text
    else:
        pool = phrasing.snips_for(c.split, here=True)
        if rng.random() < 0.5 and pool:
            t = rng.choice(pool)
            # always a time of our own: the question as SNIPS wrote it may be one of the held-out fifth
            c.user(mess(rng, fill(t.text, "", rng.choice(["today", "tomorrow", "right now", "tonight", "this afternoon"])), lower))
        else:
            c.user(mess(rng, c.pick(HERE_Q), lower))
        where = ask_where(c)
        text = expand(rng, "[I can't see where you are|I don't know your location]:") + " " + where[0].lower() + where[1:] if p.name == "neutral" else where
    c.say(text)
