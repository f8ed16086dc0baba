"""The Onion's forms: headlines, invented witnesses and their deadpan quotes, briefs, corrections, reader
polls and quote-led pieces (no numbers: every number in an answer is a tool figure).

Every form is one headline line, the single "\n\n", then the answering sentence (parts[0]) and the other
facts, then what the form adds: a witness, a deadpan tag, a correction notice, a poll or an attribution.
The tools report mean wind, never gusts; the night speaks of the dark, never of the sun.
"""

from __future__ import annotations

import random
import re

from tasks.data.convo.common import cap, expand

MOODS = ("wet", "snow", "thunder", "cold", "hot", "windy", "fair", "mild", "fog", "night")
# how often each form is drawn: (a) headline, facts, witness; (b) a brief; (c) a correction notice;
# (d) a reader poll with no numbers; (e) quote-led: the witness's words are the headline
ONION_FORMS = {"witness": 0.30, "brief": 0.18, "correction": 0.16, "poll": 0.16, "quote": 0.20}
ONION_NOTICES = ("Correction:", "Clarification:", "Editor's note:", "Update:")  # how a correction notice opens

# ----------------------------------------------------------------------------- the cast (invented people)

ONION_FIRST = """Dana Gary Priya Walt Maribel Tom Jess Kyle Renata Howard Aisha Bernard Lucía Doug Amara Bjørn Chiara Dmitri
Eun-ji Farid Greta Hamza Ines Jomo Kalani Leilani Mateo Nadia Oksana Pablo Quentin Rashida Sanjay Tamsin Umar Valentina Wen Ximena
Yusuf Zofia Abebe Bongani Carmen Deepak Elif Fatima Gunnar Hiroshi Ingrid Jae-won Kofi Lars Mei Nikhil Olu Paulina Rania Siobhan
Tariq Ulla Vikram Wanjiru Yaw Zainab Alejandro Beatriz Chidi Dagny Emeka Folake Giorgos Hana Ilse Javier Kemal Laila Magnus Nkechi
Orla Pita Rui Saoirse Thabo Uzma Vesna Wiremu Xiu Yara Zeynep Anders Bashir Consuelo Declan Esperanza Femi Gwen Hector Imani Jürgen
Katya Lindiwe Marisol Njeri Osvaldo Parveen Radek Sunita Teodor Ugnė Vivek Wilhelmina Yosef Arturo Busisiwe Cormac Dilnoza Eero
Filipa Goran Halima Jasmin Kenji Luciana Mehmet Noor Oskar Perpetua Rohan Svetlana Tomasz Ulrike Valeria Wayne Yuki Zoltan
Agnieszka Brendan Cosmin Dolores Enrique Fionnuala Gideon Hyun-woo Isabela Jarrah Kwame Lorenzo Malia Nuno Odette Pradeep Rukmini
Søren Tevita Viggo Wendell Yasmin Zubair Ama Bodil Ciaran Dragana Esteban Fumiko Gabriel Hulda Ikaika Jelena Kagiso Ludmila Moana
Nasrin Obinna Piotr Roisin Shanthi Thanh Vusi Winifred Yevgenia Zanele Aurelio Bronwen Cyrus Delphine Efua Florin""".split()
ONION_LAST = """Kowalski Pruitt Raman Henning Ortiz Aldine Okafor Brandt Lindqvist Mbeki Fairweather Castellano Hughes Nakamura
Abernathy Bergstrom Chaudhry Delacroix Eze Fonseca Gallagher Haddad Iwu Jablonski Kapoor Lafleur Mendizábal Nwosu Oyelaran Petrakis
Quispe Rosales Sandoval Takahashi Ueda Vasquez Wojcik Xiong Yilmaz Zapata Achterberg Banerjee Cervantes Dlamini Esposito
Fitzgerald Gonzaga Halvorsen Ibarra Jovanovic Kariuki Lombardi Mwangi Nilsson Obregón Papadopoulos Quiroga Rasmussen Szabo Tanaka
Ulloa Varga Whitcombe Yamamoto Zielinski Adeyemi Bianchi Cardoso Dubois Ekwueme Fischer Grimaldi Hoffmann Ivanova Jaramillo
Kaminski Lachance Moreau Ndiaye Olabode Pereira Renwick Sato Thorvaldsen Uchenna Villanueva Wainwright Yeboah Zeller Alvarado
Bhatt Castillo Dimitrov Echeverría Ferreira Gutiérrez Horvath Ishikawa Janssen Khumalo Larsen Morales Novak Osei Petrov Rahman
Salazar Toivonen Urquhart Vlahos Wexler Yamada Zimmermann Acheampong Bruckner Cisneros Doherty Engstrom Falconer Gakuru Hakimi
Irizarry Jeong Kuznetsov Liang Mahlangu Nakashima Pellegrini Rautio Sorensen Tembo Ugarte Waweru Yoon Zabala Amadi Drummond
Ebersole Fontaine Gyamfi Holloway Ilunga Jankowski Kaur Lungu Mtshali Nguyen Oduya Piątek Rinaldi Sithole Trujillo Uwimana
Vuković Whitlock Yadav Quaye Abramowitz Bakshi Carvalho Dunleavy Etxeberria Fagerlund Gaspard Huynh Ikeda Jokinen Kovalenko
Lestari Maguire Nakagawa Ostrowski Pham Rosenthal Sabharwal Tshabalala Umarov Vidal Wangari Yousef Zavala""".split()
ONION_ROLES = ["area resident", "local commuter", "retired dentist", "dog owner", "office manager", "cyclist", "part-time notary",
               "bus driver", "cafe owner", "amateur gardener", "self-described outdoors person", "substitute teacher", "area librarian",
               "regional sales manager", "local resident", "area shopkeeper", "neighbourhood watch member", "night-shift nurse",
               "school crossing guard", "wedding photographer", "florist", "plumber", "postal worker", "taxi driver", "yoga instructor",
               "beekeeper", "retired ferry captain", "hardware store clerk", "delivery rider", "museum guard", "barber", "tram driver",
               "market trader", "street musician", "accountant", "graduate student", "pastry chef", "dental hygienist", "bookshop owner",
               "parking attendant", "choir member", "window cleaner", "chess club treasurer", "pharmacist", "estate agent", "dog groomer",
               "long-distance runner", "tour guide", "hotel receptionist", "fishmonger", "tailor", "locksmith", "retired geography teacher",
               "sound engineer", "translator", "pet sitter", "city councillor", "kindergarten teacher", "bakery owner", "carpenter",
               "dance teacher", "laundrette owner", "painter and decorator", "allotment holder", "recent retiree", "nursing student",
               "amateur birdwatcher", "ice cream vendor", "piano tuner", "father of several", "grandmother", "lifelong pessimist"]
ONION_VERBS = ["said", "told reporters", "added", "admitted", "explained", "confirmed", "noted", "sighed", "insisted", "conceded"]
ONION_TAILS = [""] * 40 + [", hands in pockets", ", shrugging", ", from a doorway", ", on a lunch break", ", who had not checked the forecast",
                           ", visibly tired", ", from behind a window", ", clutching a thermos", ", mid-errand", ", from a bus shelter",
                           ", between sips of coffee", ", after some hesitation", ", without looking up", ", holding a shopping bag"]

# ----------------------------------------------------------------------------- headlines

ONION_NOUNS = ["Residents", "Commuters", "Dog Walkers", "Office Workers", "Parents", "Meteorologists", "Cyclists", "Tourists",
               "Retirees", "Teenagers", "Local Men", "Bus Drivers", "Joggers", "Gardeners", "Pigeons", "Shopkeepers", "Students",
               "Cafe Owners", "Delivery Riders", "Grandparents", "Cat Owners", "Pensioners", "Toddlers", "Taxi Drivers",
               "Birdwatchers", "Street Vendors", "Schoolchildren", "Accountants", "Nurses", "Wedding Guests", "Skateboarders",
               "Florists", "Choir Members", "Landlords", "Flatmates", "Plumbers", "Librarians", "Local Women", "Newlyweds"]
ONION_SUBJECTS = ["{Place} Residents", "Commuters In {Place}", "{Place} Dog Walkers", "Office Workers In {Place}", "{Place} Parents",
                  "Pigeons Of {Place}"]  # kept for callers; the headline composes its subject from ONION_NOUNS
ONION_PREFIXES = [""] * 12 + ["Report: ", "Sources: ", "Study Finds ", "Experts Confirm ", "Breaking: ", "Witnesses Say "]
# predicates for plural subjects, composed with expand(): verb, object, then an optional tail
ONION_PREDICATES = {
    "wet": "[Brace For|Resigned To|Quietly Accept|Hold Emergency Meeting About|Formally Object To|Pretend To Enjoy|Issue Statement On|"
           "Hold Vigil For] [Rain|Damp Socks|Sky Leaking Again|Another Soggy Commute|Puddle Season|Wet Weather|Water Falling From Above]"
           "[||||, Forget Umbrellas|, Stay Home|, Blame Each Other| With Visible Reluctance|, Demand Refund|, Cancel Everything| Despite Owning Umbrellas|, Cite Shoes]",
    "snow": "[Cautiously Optimistic About|Openly Divided Over|Immediately Complain About|Locate Shovels Ahead Of|Photograph|"
            "Refuse To Discuss] [Snow Day|Snow|White Stuff On Cars|Unplowed Pavements|Slushy Kerbs][||, Officials Silent| Before Breakfast|, Build Nothing|, Call In Cold]",
    "thunder": "[Advised To Hide From|Count Seconds Between|Unplug Everything Ahead Of|Stay Indoors Through|Flinch At|Argue With Dog About] "
               "[Loud Sky Noises|Flashes|Thunderstorms|Afternoon Storms|Rumbling Clouds][||, Lose Count|, Just In Case|, Dog In Charge|, Hide Under Tables]",
    "cold": "[Insist It's Fine|Dig Out Coats|Debate Gloves|Report Visible Breath|Negotiate With Radiators|Deny Feeling Chilly|Hug Radiators|"
            "Wear Everything They Own|Lose Feeling In Ears][| Reluctantly| Amid Chill| Before Breakfast| Without Complaint]"
            "[|||, Deny Everything|, Blame Wind|, Put Kettle On|, Stay Put]",
    "hot": "[Demand Answers From|Queue To Escape|Hide From|File Complaint About|Negotiate With|Wilt Under|Form Orderly Queue Away From] "
           "[Sun|Heat|Afternoon Sun|Scorching Pavements|Relentless Warmth][||, Sun Declines Comment|, Do Nothing, Slowly|, Move Into Freezer Aisle|, Cancel Plans]",
    "windy": "[Lose Hats To|Chase Recycling Bins Through|Report Umbrellas Defeated By|Lean Into|Shout Conversations Over|Stand Sideways In] "
             "[Wind|Strong Breeze|Aggressive Air|Stiff Wind|Restless Air][||, Dignity Lost|, Give Up On Hair|, Hold Onto Lampposts|, Retrieve Bins Later]",
    "fair": "[Stare Longingly At|Suspicious Of|Baffled By|Quietly Enjoy|Celebrate|Refuse To Trust|Photograph|Grudgingly Admit Liking|"
            "Take Long Lunches Over|Find Fault With] [Pleasant Weather|Perfectly Fine Sky|Good Weather|Sunny Day|Nice Afternoon|Clear Sky]"
            "[|||| Through Office Window|, Await Catch| From Desks|, Cancel Moaning|, Demand Explanation|, Call Mothers]",
    "mild": "[Report Weather Exists|Call Day Fine|Shrug At Sky|Give Sky Lukewarm Review|Note Weather, Move Along|Rate Day Acceptable|"
            "Describe Conditions As Fine|Shrug Collectively At Forecast], [Offer No Further Comment|Keep Trying|Return To Work|Remain Unmoved|"
            "Ask For Something More Interesting|Go Back Inside|Resume Errands]",
    "fog": "[Unable To See|Wave At Strangers Hidden By|Lose Track Of Buildings In|Bump Into Each Other In|Get Lost In|Politely Ignore] "
           "[Fog|Grey Murk|Thick Fog|Mist|Low Cloud][||, Carry On|, Apologise To Lampposts|, Follow Voices Home]",
    "night": "[Stare Into|Quietly Accept|Make Peace With|Pretend Not To Notice|Turn Lights On Against|Write Poetry About|Complain About] "
             "[Darkness|The Dark|Night Sky|Another Night|Evening Gloom][||, Draw Curtains|, Go To Bed|, Offer No Comment|, Put Kettle On|, Blame Clocks]",
}
# predicates for the sky itself (a singular subject)
ONION_SKY = {
    "wet": "[Continues Leaking|Refuses To Stop Raining|Springs Another Leak|Empties Itself Again|Keeps Raining Out Of Habit]",
    "snow": "[Goes White Without Warning|Dumps Snow On Everything|Turns Pavements Into Slush|Covers Every Car In White]",
    "thunder": "[Clears Its Throat Loudly|Makes Loud Noises Again|Throws Tantrum|Rumbles All Afternoon]",
    "cold": "[Turns Chilly On Purpose|Refuses To Warm Up|Goes Cold On Residents|Chills Everyone Equally]",
    "hot": "[Turns Up Heat Without Consulting Anyone|Bakes Pavements|Refuses To Cool Down|Holds Heat Like Grudge]",
    "windy": "[Pushes Everyone Sideways|Rearranges Bins Overnight|Tests Every Hat In Town|Blows Hard All Day]",
    "fair": "[Behaves Itself For Once|Does Nothing Wrong|Stays Pleasant, Arouses Suspicion|Offers Pleasant Day, Asks Nothing In Return]",
    "mild": "[Does Nothing Notable|Produces Perfectly Average Day|Leaves No Impression|Phones It In]",
    "fog": "[Misplaces Entire Skyline|Hides Everything Again|Turns Grey, Stays Grey|Blurs Every Street]",
    "night": "[Goes Dark As Scheduled|Turns Off For Evening|Dims, Then Stays That Way|Clocks Off For Night]",
}
ONION_SKY_TAILS = ["", "", "", ", Residents Unsurprised", ", Nobody Consulted", ", Officials Shrug", ", Locals Take Note", ", Nation Sighs"]


def _subject(rng: random.Random, place: str) -> str:
    noun = rng.choice(ONION_NOUNS)
    if place[:1].islower():  # "your area": no name to put in a headline
        return f"{rng.choice(['Area', 'Nearby'] if noun.startswith('Local') else ['Area', 'Local', 'Nearby'])} {noun}"
    return f"{place} {noun}" if rng.random() < 0.55 else f"{noun} {rng.choice(['In', 'Across', 'Around'])} {place}"


def _echoes(text: str) -> bool:
    """True when one word's stem comes back within a few words ("Study Finds ... Find Fault", "Report: ... Report")."""
    stems = [w[:4] for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4]
    return any(a == b for i, a in enumerate(stems) for b in stems[i + 1:i + 4])


def onion_headline(rng: random.Random, place: str, mood: str) -> str:
    """A Title-Case headline for the mood: people in the place doing something about it, or the sky misbehaving."""
    mood = mood if mood in ONION_PREDICATES else "mild"
    for _ in range(8):  # redraw a headline that repeats itself
        if rng.random() < 0.25:
            sky = "Local Sky" if place[:1].islower() else rng.choice([f"Sky Over {place}", f"{place} Sky", f"Weather In {place}"])
            text = f"{sky} {expand(rng, ONION_SKY[mood])}{rng.choice(ONION_SKY_TAILS)}"
        else:
            text = f"{rng.choice(ONION_PREFIXES)}{_subject(rng, place)} {expand(rng, ONION_PREDICATES[mood])}"
        text = re.sub(r"\s+", " ", text).replace(" ,", ",").strip(" ,")
        if not _echoes(text.replace(place, "")):
            break
    return text


# ----------------------------------------------------------------------------- witnesses and their quotes

ONION_QUOTES = {
    "wet": ["I specifically washed my car for this", "I'll just run between the drops", "I'm choosing to see it as a free shower",
            "The umbrella lasted until the corner", "I've stopped pretending my shoes are waterproof", "The dog refuses to go out and I respect that",
            "My shoes have made their feelings clear", "All my umbrellas are at the office", "At this point I'm more puddle than person",
            "I hung the washing out this morning, which was optimistic", "My socks have given up on me", "Even the ducks look fed up"],
    "snow": ["I'm not shovelling until someone else does", "It's beautiful, and I hate it", "The kids have already unionised for a day off",
             "I've been told the car is under there somewhere", "I built a snowman out of spite", "My boots have opinions about this",
             "The dog thinks it's the best day of its life", "Nobody on this street owns a proper shovel"],
    "thunder": ["I've decided the dog is in charge now", "I was told there'd be a light show, not a lecture", "I unplugged the toaster, and honestly I feel safer",
                "The cat knew before any of us", "I'm under the table and I'm staying here", "The sky seems upset about something",
                "I counted the seconds and then lost count", "The dog and I are sharing a blanket now"],
    "cold": ["I'm fine, this is fine", "Nobody warned me about my ears", "I can no longer feel the keys in my pocket, or my pocket",
             "I've started negotiating with my radiator", "I refuse to be the first on my street to wear a hat", "My nose has stopped speaking to me",
             "I'm wearing every jumper I own", "The kettle is my closest friend now", "I could see my breath and it looked worried"],
    "hot": ["I've stopped making plans that involve moving", "The pavement is now a stovetop", "I have been standing in the freezer aisle for an hour",
            "My sunglasses are sweating", "I'd complain, but that takes energy", "I've moved into the shade under the bus stop",
            "The dog has claimed the tiled floor", "I've been eating ice lollies for lunch and dinner"],
    "windy": ["That was a very expensive hat", "My umbrella has gone to a better place", "I went out with a bin and came back with a neighbour's",
              "I've given up on my hair entirely", "I walked to work sideways", "My scarf is somewhere over the river by now",
              "The recycling has been redistributed across the street", "I leaned into it and it leaned back"],
    "fair": ["I don't trust it", "I keep waiting for the catch", "Something this nice usually comes with a bill",
             "I've had to cancel an entire afternoon of moaning", "I've put sunglasses on and I feel like a fraud",
             "Everyone is being pleasant and it's unsettling", "I went outside on purpose, which is a first",
             "I've had to find new things to be annoyed about", "My umbrella feels abandoned", "I sat on a bench and nobody stopped me"],
    "mild": ["It's weather, I suppose", "I had a complaint ready and nowhere to use it", "It's neither here nor there, much like me",
             "I put on a jacket, took it off, and put it back on", "Honestly, I've seen worse and I've seen better", "It's fine, and that's all I'll say",
             "I've nothing to report and I'm reporting it", "It's the beige of weather"],
    "fog": ["I walked into my own car", "I'm told the city is still there", "I waved at a lamppost for a long while",
            "I can't see the end of my own street", "I followed a stranger home by mistake", "The church tower has vanished again"],
    "night": ["It's dark, which I'm told is normal", "I went to check on the sky and it had gone", "I'm in my dressing gown and I'm not moving",
              "The street lights are doing their best", "I've drawn the curtains and that's my contribution", "The owls seem to be coping"],
}
ONION_COMPOSED = [
    "[I had planned to|I was going to|Honestly, I meant to|My plan was to|I'd promised myself I'd] [stay in and complain|mow the lawn|wash the car|do nothing at all|"
    "fix the gutter|walk to work|repaint the gate|sort the garage] [, and now|, but now|, so now|, which means] [I'm at a loose end|that's ruined|"
    "I've run out of excuses|I have no excuse left|I have to rethink everything|my whole week is off|the afternoon is a write-off|I need a new plan|nobody believes me]",
    "[My neighbour|My husband|My wife|My boss|My mother|The dog|My landlady|My flatmate] [says|insists|swears|keeps telling me] [it's fine|it'll clear up|it's my fault|"
    "this is normal|I'm overreacting] [, and frankly|, but honestly|, and to be fair|, though] [I'm not convinced|they may be right|I've heard that before|"
    "I've stopped listening|I've given up arguing]",
    "[Frankly|Look|Between you and me|To be honest], [I blame|I'm holding responsible|I've written to] [the council|my landlord|the sky|the mayor|"
    "whoever runs this|the weather people|the government|my neighbour's wind chimes] [and I expect|and I want|and I'm demanding] [an apology|answers|a refund|a full inquiry]",
    "[I checked|I looked at|I studied] [the forecast|my phone|the radio|the sky] [all morning|before breakfast|on the bus|over lunch] [and I still|and somehow I|"
    "yet I] [got it wrong|wore the wrong shoes|picked the wrong coat|ended up surprised|left the washing out|forgot my hat]",
    "[We've lived here|I've lived on this street|My family has been here] [for ages|my whole life|longer than the bakery], and [it's always like this|nobody ever warns us|"
    "I'm still not used to it|this still catches me out]",
]


def onion_quote(rng: random.Random, mood: str) -> str:
    """A deadpan quote with no end mark (the caller punctuates it)."""
    if rng.random() < 0.55:
        return expand(rng, rng.choice(ONION_COMPOSED)).replace(" ,", ",")
    return rng.choice(ONION_QUOTES.get(mood, ONION_QUOTES["mild"]))


def _who(rng: random.Random) -> str:
    return f"{rng.choice(ONION_ROLES)} {rng.choice(ONION_FIRST)} {rng.choice(ONION_LAST)}"


def onion_witness(rng: random.Random, mood: str) -> str:
    """An invented witness with a deadpan quote (no ages: every number in an answer comes from a tool)."""
    quote = onion_quote(rng, mood)
    tail = rng.choice(ONION_TAILS)
    who = _who(rng) + tail
    verb = rng.choice(ONION_VERBS)
    if rng.random() < 0.5:
        if verb == "told reporters":
            return f"\u201c{quote},\u201d {who}{',' if tail else ''} told reporters."
        return f"\u201c{quote},\u201d {verb} {who}."
    return f"{cap(who)}{',' if tail else ''} {verb}: \u201c{quote}.\u201d"


# ----------------------------------------------------------------------------- briefs: a deadpan tag, or nothing

ONION_TAGS = {
    "wet": "[Umbrella sales|Demand for dry socks|Towel sales|Sales of wellington boots] [were described as|remain|are said to be] [brisk|steady|grimly predictable|up on last week].",
    "snow": "[Shovel sales|Demand for thick socks|Sledge rentals|Sales of rock salt] [were described as|remain|are said to be] [brisk|steady|frantic|up on last week].",
    "thunder": "[Dogs across the area|Several cats|Most household pets|The nation's dogs] [were reported|are said to be|were last seen] [under beds|behind sofas|in the bath|in wardrobes].",
    "cold": "[Radiators|Kettles|Thermostats|Electric blankets] [across the area|in most homes|citywide] [are working overtime|are being watched closely|are in high demand|have not been switched off].",
    "hot": "[Freezer aisles|Public fountains|Paddling pools|Air-conditioned shops] [across the area|citywide|in most districts] [are unusually crowded|are in high demand|have never been so popular|are fully booked].",
    "windy": "[Hats|Bins|Umbrellas|Garden chairs] [across the area|citywide|on several streets] [remain unaccounted for|are being recovered|have been reported missing|were last seen heading east].",
    "fair": "[Moaning|Grumbling|Complaining] [across the area|citywide|at bus stops] [is down sharply|has dropped off|has paused for now|is at a seasonal low].",
    "mild": "[Not a single resident|Nobody|No one on the desk|Not one reader] [has complained|has written in|has noticed|has brought it up] [so far|yet|at press time|this week].",
    "fog": "[Several lampposts|A number of hedges|Various bins|Parked cars] [have been|were] [mistaken for people|greeted by name|apologised to|asked for directions] [this morning|by pedestrians|overnight].",
    "night": "[Most residents|Many locals|Much of the population|Local insomniacs] [are asleep|are pretending to sleep|are staring at ceilings|have gone to bed] [and could not be reached|and declined to comment|at press time].",
}
ONION_TAGS_ANY = [
    "[The sky|Conditions|The weather|The atmosphere] [declined to comment|could not be reached for comment|did not respond to a request for comment|issued no further statement] "
    "[at press time|by deadline|as of this writing|before this story was filed].",
    "[More|Further|Additional] [updates|details|developments] [will follow|are expected|may follow] [if the sky does anything else|should anything change|"
    "as the story develops|once someone looks outside|if reporters are sent out again].",
    "[Officials|Local authorities|A council spokesperson] [urged|advised|reminded] [residents|the public|everyone] to [carry on|remain calm|look out of a window|"
    "keep calm and check again later|behave normally].",
]


def onion_tag(rng: random.Random, mood: str) -> str:
    return expand(rng, ONION_TAGS[mood] if rng.random() < 0.5 else rng.choice(ONION_TAGS_ANY))


# ----------------------------------------------------------------------------- correction notices (deadpan, no figures)

ONION_THINGS = {"wet": ["rain", "wet weather", "damp"], "snow": ["snow", "snowfall"], "thunder": ["storm", "thunder"],
                "cold": ["cold", "chill"], "hot": ["heat", "warm weather"], "windy": ["wind", "breeze"], "fair": ["fine weather", "fine spell"],
                "mild": ["weather", "sky"], "fog": ["fog", "murk"], "night": ["night", "darkness"]}
ONION_KIT = {"wet": "[a towel|dry socks|a larger umbrella|a mop|waterproof trousers]", "snow": "[a shovel|a second scarf|thicker gloves|a sledge]",
             "thunder": "[earplugs|a quiet room|a blanket|a torch]", "cold": "[a second scarf|thicker gloves|a hot-water bottle|a flask of tea]",
             "hot": "[a desk fan|a cold flannel|an ice lolly|a bucket of water]", "windy": "[a heavier hat|a hat with a chin strap|a paperweight|a kite]",
             "fair": "[a deckchair|an afternoon off|a longer lunch|a bench]", "mild": "[a cardigan|a lukewarm tea|a medium-weight jacket|a nap]",
             "fog": "[a torch|a map|a guide rope|a compass]", "night": "[a torch|a nightlight|a blanket|an early night]"}
ONION_CORRECTIONS = [
    "[Correction|Clarification]: [An earlier version of this|A previous version of this|The original version of this] [report|article|story|dispatch] "
    "[stated|claimed|suggested|implied] that the {thing} [over|in|across] {place} was [personally targeting|out to get|singling out|aiming itself at] "
    "[one local man|a single commuter|a specific cyclist|one unlucky dog walker|the paper's own reporter]; [it is|the {thing} is] "
    "[indifferent to everyone equally|not targeting anyone|targeting no one in particular], and [we regret the error|the desk regrets the error|"
    "this newspaper apologises|the desk apologises for any confusion].",
    "Correction: [This report|An earlier version of this report|A previous edition] [wrongly|mistakenly|incorrectly] [described|referred to|characterised] "
    "the {thing} [over|in] {place} as [a personal insult|a conspiracy|a deliberate act|an act of spite|a publicity stunt|a cry for help]; "
    "[the {thing} has no motives|the {thing} has no intentions|the {thing} holds no grudges|it was simply the {thing}], and [we regret the error|"
    "the desk regrets it|this newspaper apologises|the desk apologises to the {thing}].",
    "Editor's note: [The reporter|Our correspondent|The author of this piece|The reporter who filed this story] [has since been|was later|has now been] "
    "[given|handed|issued|lent] {kit} [and is said to be fine|and is recovering well|and has asked not to be named|and will not be going out again|"
    "and would like that noted].",
    "Clarification: [This report|The above report|This story] [does not mean to suggest|should not be read as saying|is not suggesting] that "
    "[residents of {place}|commuters in {place}|the people of {place}|locals in {place}] [deserve|asked for|brought on|are to blame for] the {thing}; "
    "[the desk regrets any implication|this newspaper stands corrected|the newsroom apologises for the tone|editors wish to make that clear].",
    "Update: [Since publication|Since this report went out|After this story was filed|Since press time], the {thing} [over|in] {place} has "
    "[declined to comment|not responded to questions|refused to be interviewed|not returned calls|issued no statement], [and reporters will keep asking|"
    "and the desk remains hopeful|and editors have stopped trying|and the desk will try again later|and reporters are not surprised].",
]


def onion_correction(rng: random.Random, place: str, mood: str) -> str:
    thing = rng.choice(ONION_THINGS[mood])
    template = rng.choice(ONION_CORRECTIONS).replace("{kit}", ONION_KIT[mood])
    return expand(rng, template, thing=thing, place=place)


# ----------------------------------------------------------------------------- reader polls (quoted options, no figures)

ONION_POLL_NOUNS = {"wet": ["The Rain", "All This Rain", "The Damp", "Wet Weather"], "snow": ["The Snow", "All This Snow", "Snow Days"],
                    "thunder": ["The Storms", "All That Thunder", "Storm Season"], "cold": ["The Cold", "The Chill", "Cold Weather"],
                    "hot": ["The Heat", "All This Heat", "Hot Weather"], "windy": ["The Wind", "All This Wind", "Windy Weather"],
                    "fair": ["The Nice Weather", "A Pleasant Day", "Clear Weather"], "mild": ["The Weather", "A Perfectly Average Day", "Mild Weather"],
                    "fog": ["The Fog", "All This Fog", "Foggy Weather"], "night": ["The Dark", "The Night", "Another Evening"]}
ONION_POLL_OPTIONS = {
    "wet": ["My shoes disagree", "I've made peace with being damp", "Rain is just the sky being honest", "I live in my raincoat now"],
    "snow": ["I'm not leaving the house", "The kids are thrilled and I'm exhausted", "Where did I put the shovel?"],
    "thunder": ["The dog would like it to stop", "I'm enjoying the sound from under the duvet", "Is it over yet?"],
    "cold": ["I'm wearing a coat indoors", "Cold is just a state of mind", "I've lost contact with my toes"],
    "hot": ["I'm melting, thank you for asking", "I'm living in the freezer aisle", "Too hot to have an opinion"],
    "windy": ["My hat has left me", "My bins are in the next street", "I'm walking at an angle"],
    "fair": ["Suspiciously good", "I'm waiting for the catch", "I've nothing to complain about and I hate it"],
    "mild": ["It's fine, I suppose", "I hadn't noticed", "Ask me again when something happens"],
    "fog": ["I can't see the question", "Where is everyone?", "I've lost my car again"],
    "night": ["I'm in bed, please go away", "It's dark and that's all I know", "Ask me in the morning"],
}
ONION_POLL_ANY = ["Who's asking?", "I'd rather not say", "I blame the council", "It's all the same to me", "Don't get me started",
                  "I was told there'd be no questions", "My dog has strong views", "I'm just here for the bus", "No comment",
                  "I'll know when I see it", "Ask my neighbour", "Better than yesterday, worse than tomorrow", "Honestly, I've stopped looking",
                  "Same as ever", "I'm choosing not to engage", "Please stop polling me", "I have feelings, but they're private"]


def onion_poll_headline(rng: random.Random, place: str, mood: str) -> str:
    where = rng.choice(["", " Where You Are"]) if place[:1].islower() else f" {rng.choice(['In', 'Over', 'Across'])} {place}"
    ask = rng.choice(["How Do You Feel About", "What Do You Make Of", "How Are You Coping With", "Where Do You Stand On",
                      "Are You Ready For", "Should Anyone Worry About", "Can You Handle", "What Are Your Thoughts On",
                      "Have You Noticed", "Are You Fed Up With", "How Would You Rate"])
    return f"{rng.choice(['Poll', 'Reader Poll', 'Quick Poll', 'Survey', 'Snap Poll'])}: {ask} {rng.choice(ONION_POLL_NOUNS[mood])}{where}?"


def onion_poll(rng: random.Random, place: str, mood: str) -> str:
    """Three reader responses, quoted, with no numbers."""
    pool = ONION_POLL_OPTIONS[mood] + ONION_POLL_ANY + ONION_QUOTES[mood]
    options = " ".join("\u201c" + (o if o[-1] in ".!?" else o + ".") + "\u201d" for o in rng.sample(pool, 3))
    asked = rng.random() < 0.6
    who = rng.choice(["readers", "respondents", "those polled", f"people in {place}", "locals"] if asked else
                     ["readers", "passers-by", f"people in {place}", "locals", "commuters"])
    intro = expand(rng, [
        "[Asked|When asked] [how they feel about|what they make of|how they are coping with|for their views on|for their thoughts on|"
        "what they think of|how they would rate|whether they had noticed] [it|the {thing}|conditions|the day], {who} [said|answered|replied|"
        "gave these answers|chose from the following]:",
        "[The desk|This newspaper|Our pollsters|A reporter with a clipboard] [put the question to|asked|canvassed|stopped] {who} [outside|at random|"
        "on the street|near the bus station], [and the answers were|and these were the replies|with these results|and heard the following]:"][not asked],
                   thing=rng.choice(ONION_THINGS[mood]), who=who)
    return f"{intro} {options}"


# ----------------------------------------------------------------------------- quote-led: the witness's words are the headline


def _title(text: str) -> str:
    return re.sub(r"(^|[\s-])(\w)", lambda m: m.group(1) + m.group(2).upper(), text)


def onion_quote_headline(rng: random.Random, place: str, quote: str, role: str) -> str:
    where = rng.choice(["Area", "Local"]) if place[:1].islower() or rng.random() < 0.3 else place
    if role.startswith(("area ", "local ")):
        where = place if where in ("Area", "Local") and not place[:1].islower() else ""
    verb = rng.choice(["Says", "Reports", "Insists", "Admits", "Confirms", "Sighs"])
    return re.sub(" +", " ", f"\u201c{_title(quote)},\u201d {verb} {where} {_title(role)}")


def onion_attribution(rng: random.Random, mood: str, role: str) -> str:
    who = f"{role} {rng.choice(ONION_FIRST)} {rng.choice(ONION_LAST)}"
    if rng.random() < 0.5:
        return expand(rng, "[The remark came from|Those were the words of|That assessment came from|The words belong to] {who}"
                           "[, who declined to elaborate|, who then went back indoors|, who asked that it be printed in full|, who had more to say but did not|].",
                      who=who)
    tail = rng.choice(ONION_TAILS)
    return f"{cap(who)}{tail}{',' if tail else ''} {rng.choice(['added', 'went on', 'continued'])}: \u201c{onion_quote(rng, mood)}.\u201d"


# ----------------------------------------------------------------------------- the whole answer


def onion_answer(rng: random.Random, place: str, mood: str, parts: list[str]) -> str:
    """A whole Onion weather answer around `parts` (the answering first sentence, then the other facts): the
    headline line, the one "\n\n", then parts[0] first in every form, then what the form adds."""
    mood = mood if mood in ONION_PREDICATES else "mild"
    form = rng.choices(list(ONION_FORMS), weights=list(ONION_FORMS.values()))[0]
    body = list(parts)
    if form == "witness":
        head = onion_headline(rng, place, mood)
        body.append(onion_witness(rng, mood))
    elif form == "brief":
        head = onion_headline(rng, place, mood)
        if rng.random() < 0.65:
            body.append(onion_tag(rng, mood))
    elif form == "correction":
        head = onion_headline(rng, place, mood)
        body.append(onion_correction(rng, place, mood))
    elif form == "poll":
        head = onion_poll_headline(rng, place, mood)
        body.append(onion_poll(rng, place, mood))
    else:
        role = rng.choice(ONION_ROLES)
        head = onion_quote_headline(rng, place, rng.choice(ONION_QUOTES[mood]), role)
        body.append(onion_attribution(rng, mood, role))
    return head + "\n\n" + " ".join(body)
