"""The 80 COCO object categories and the words that name them in a sentence.

The synonym lists are CHAIR's (Rohrbach et al., 2018, "Object Hallucination in Image Captioning",
github.com/LisaAnne/Hallucination, data/synonyms.txt), so that what verification checks and what the
evaluation counts as a hallucination are the same words. Two differences, both to read a word the
way a person would: plurals are made singular by rule (CHAIR used pattern.en or WordNet), a colour
word that qualifies a noun ("an orange shirt") names no fruit, and the balls of games that Flickr8k's
captions name by the game ("a football") are sports balls.
"""

from __future__ import annotations

import re

SYNONYMS = """
person, girl, boy, man, woman, kid, child, chef, baker, people, adult, rider, children, baby, worker, passenger, sister, biker, policeman, cop, officer, lady, cowboy, bride, groom, male, female, guy, traveler, mother, father, gentleman, pitcher, player, skier, snowboarder, skater, skateboarder, foreigner, caller, offender, coworker, trespasser, patient, politician, soldier, grandchild, serviceman, walker, drinker, doctor, bicyclist, thief, buyer, teenager, student, camper, driver, solider, hunter, shopper, villager
bicycle, bike, unicycle, minibike, trike
car, automobile, van, minivan, sedan, suv, hatchback, cab, jeep, coupe, taxicab, limo, taxi
motorcycle, scooter, motor bike, motor cycle, motorbike, moped
airplane, jetliner, plane, air plane, monoplane, aircraft, jet, airbus, biplane, seaplane
bus, minibus, trolley
train, locomotive, tramway, caboose
truck, pickup, lorry, hauler, firetruck
boat, ship, liner, sailboat, motorboat, dinghy, powerboat, speedboat, canoe, skiff, yacht, kayak, catamaran, pontoon, houseboat, vessel, rowboat, trawler, ferryboat, watercraft, tugboat, schooner, barge, ferry, sailboard, paddleboat, lifeboat, freighter, steamboat, riverboat, battleship, steamship
traffic light, street light, traffic signal, stop light, streetlight, stoplight
fire hydrant, hydrant
stop sign
parking meter
bench, pew
bird, ostrich, owl, seagull, goose, duck, parakeet, falcon, robin, pelican, waterfowl, heron, hummingbird, mallard, finch, pigeon, sparrow, seabird, osprey, blackbird, fowl, shorebird, woodpecker, egret, chickadee, quail, bluebird, kingfisher, buzzard, willet, gull, swan, bluejay, flamingo, cormorant, parrot, loon, gosling, waterbird, pheasant, rooster, sandpiper, crow, raven, turkey, oriole, cowbird, warbler, magpie, peacock, cockatiel, lorikeet, puffin, vulture, condor, macaw, peafowl, cockatoo, songbird
cat, kitten, feline, tabby
dog, puppy, beagle, pup, chihuahua, schnauzer, dachshund, rottweiler, canine, pitbull, collie, pug, terrier, poodle, labrador, doggie, doberman, mutt, doggy, spaniel, bulldog, sheepdog, weimaraner, corgi, cocker, greyhound, retriever, brindle, hound, whippet, husky
horse, colt, pony, racehorse, stallion, equine, mare, foal, palomino, mustang, clydesdale, bronc, bronco
sheep, lamb, ram, goat, ewe
cow, cattle, oxen, ox, calf, holstein, heifer, buffalo, bull, zebu, bison
elephant
bear, panda
zebra
giraffe
backpack, knapsack
umbrella
handbag, wallet, purse, briefcase
tie, bow, bow tie
suitcase, suit case, luggage
frisbee
skis, ski
snowboard
sports ball, ball, football, basketball, volleyball, soccerball
kite
baseball bat
baseball glove
skateboard
surfboard, longboard, skimboard, shortboard, wakeboard
tennis racket, racket
bottle
wine glass
cup
fork
knife, pocketknife, knive
spoon
bowl, container
banana
apple
sandwich, burger, sub, cheeseburger, hamburger
orange
broccoli
carrot
hot dog
pizza
donut, doughnut, bagel
cake, cheesecake, cupcake, shortcake, coffeecake, pancake
chair, seat, stool
couch, sofa, recliner, futon, loveseat, settee, chesterfield
potted plant, houseplant
bed
dining table, table, desk
toilet, urinal, commode, lavatory, potty
tv, monitor, televison, television
laptop, computer, notebook, netbook, lenovo, macbook, laptop computer
mouse
remote
keyboard
cell phone, mobile phone, phone, cellphone, telephone, phon, smartphone, iphone
microwave
oven, stovetop, stove, stove top oven
toaster
sink
refrigerator, fridge, freezer
book
clock
vase
scissors
teddy bear, teddybear
hair drier, hairdryer
toothbrush
"""

ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")  # COCO's own

CATEGORIES: list[str] = [line.split(", ")[0] for line in SYNONYMS.strip().splitlines()]
WORDS: dict[str, str] = {word: line.split(", ")[0] for line in SYNONYMS.strip().splitlines()
                         for word in line.split(", ")}
# CHAIR's two-word names, and its "baby dog" / "passenger train" style pairs.
PAIRS: dict[str, str] = {w: c for w, c in WORDS.items() if " " in w}
PAIRS |= {f"{age} {animal}": animal for age in ("baby", "adult")
          for animal in ANIMALS}
PAIRS |= {"passenger jet": "airplane", "passenger train": "train", "toilet seat": "toilet", "home plate": "",
          "train track": "", "hair dryer": "hair drier"}  # the last as alttext.wording writes it
IRREGULAR = {"men": "man", "women": "woman", "children": "child", "people": "people", "geese": "goose",
             "mice": "mouse", "knives": "knife", "oxen": "oxen", "feet": "foot", "teeth": "tooth",
             "skis": "skis", "bus": "bus", "glass": "glass", "grass": "grass", "dress": "dress", "ladies": "lady",
             "puppies": "puppy", "ponies": "pony", "benches": "bench", "buses": "bus", "couches": "couch",
             "sandwiches": "sandwich", "peaches": "peach", "boxes": "box", "toothbrushes": "toothbrush",
             "sheep": "sheep", "cattle": "cattle", "series": "series", "species": "species", "scissors": "scissors",
             "glasses": "glass"}
COLOURS = {"orange"}


def singular(word: str) -> str:
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ss") or word.endswith("us") or not word.endswith("s") or len(word) < 4:
        return word
    return word[:-1]


def tokens(sentence: str) -> list[str]:
    return [singular(w) for w in re.findall(r"[a-z]+", sentence.lower())]


def objects_named(sentence: str) -> list[str]:
    """The COCO categories a sentence names, in order, with repeats ("a dog chases a dog" names dog twice)."""
    words = tokens(sentence)
    found = []
    i = 0
    while i < len(words):
        pair = " ".join(words[i:i + 2])
        if pair in PAIRS:
            if PAIRS[pair]:
                found.append(PAIRS[pair])
            i += 2
            continue
        word = words[i]
        qualifies = word in COLOURS and i + 1 < len(words) and words[i + 1] not in ("and", "or")
        if word in WORDS and not qualifies:
            found.append(WORDS[word])
        i += 1
    if "toilet" in found and "chair" in found:  # CHAIR: "toilet seat" written apart
        found.remove("chair")
    return found
