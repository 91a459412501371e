"""One action vocabulary over every labelled skeleton dataset, and each dataset's class names mapped into it.

A model trained on several datasets at once predicts *vocabulary labels*; the table below says which class of
which dataset is which label. It is keyed by the reader's name (:attr:`DatasetReader.name`, the ``dataset`` of a
:class:`~skelrec.datasets.base.Sample` and of a prepared cache) and by the class names exactly as that reader names
them (its ``classes`` tuple), so a class renamed in a reader fails the tests instead of silently dropping out.
A classifier checkpoint records the part of the table it was trained with as ``config["label_sources"]``
(:meth:`Vocabulary.label_sources`): dataset -> {class name -> vocabulary label}.

Merging rules (each merge below is a decision, commented where it is not obvious):

* the same movement with the same body part(s) merges across datasets, whatever its name (UTD-MHAD "stand to sit",
  NW-UCLA "sit down", NTU "sitting down", MSR DailyActivity3D "sit down" -> ``sit down``);
* two classes of ONE dataset never merge (the dataset's annotators say they differ): NW-UCLA "pick up with one
  hand" / "with two hands", MSR Action3D "high arm wave" / "horizontal arm wave" / "two hand wave", UTD-MHAD "draw
  circle (clockwise)" / "(counter clockwise)" all stay apart;
* a class that is more general than two apart classes of another dataset stays apart from both (MSR Action3D's
  direction-less "draw circle");
* objects, postures and one- vs two-handedness that change the skeleton motion keep classes apart (UTD-MHAD
  "two hand push" vs MSRC-12 "push right"; NTU "cross hands in front (say stop)" vs UTD-MHAD "cross arms in the
  chest"; MSRC-12's pistol "shoot" vs UTD-MHAD's "basketball shooting").

Vocabulary labels are lower-case English verb phrases, singular, without dataset-specific decorations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from skelrec.errors import SkelrecError

__all__ = ["UNIFIED", "VOCABULARIES", "Vocabulary", "get_vocabulary", "spelling_key"]


# ------------------------------------------------------------------------------------------------------------------
# The table: dataset -> {class name as its reader names it -> vocabulary label}.
# ------------------------------------------------------------------------------------------------------------------

_UTD_MHAD = {
    "right arm swipe to the left": "swipe left",
    "right arm swipe to the right": "swipe right",
    "right hand wave": "wave hand",  # = NTU "hand waving", MSR "high arm wave" (hand raised, waved overhead)
    "two hand front clap": "clap",  # = NTU "clapping", MSR "hand clap"
    "right arm throw": "throw",  # = NTU/NW-UCLA/MSRC-12 "throw", MSR "high throw" (overhand, one arm)
    "cross arms in the chest": "cross arms",
    "basketball shooting": "basketball shot",
    "draw x": "draw x",  # = MSR "draw X"
    "draw circle (clockwise)": "draw circle clockwise",
    "draw circle (counter clockwise)": "draw circle counterclockwise",
    "draw triangle": "draw triangle",
    "bowling (right hand)": "bowling",
    "front boxing": "punch forward",  # = MSR "forward punch"
    "baseball swing from right": "baseball swing",
    "tennis forehand swing": "tennis forehand",  # = MSR "tennis swing" (performed as a forehand in MSR Action3D)
    "arm curl (two arms)": "arm curl",
    "tennis serve": "tennis serve",  # = MSR "tennis serve"
    "two hand push": "push with both hands",
    "knock on door": "knock on door",
    "hand catch": "catch",  # = MSR "hand catch"
    "pick up and throw": "pick up and throw",  # = MSR "pickup and throw"
    "jogging": "jog",  # = MSR "jogging"
    "walking": "walk",  # = NW-UCLA "walk around", MSR DailyActivity3D "walk"
    "sit to stand": "stand up",  # = NW-UCLA/MSR DailyActivity3D "stand up", NTU "standing up (from sitting ...)"
    "stand to sit": "sit down",  # = NW-UCLA/MSR DailyActivity3D "sit down", NTU "sitting down"
    "forward lunge (left foot forward)": "lunge",
    "squat": "squat",
}

_NW_UCLA = {
    "pick up with one hand": "pick up",  # = NTU "pickup" (one hand reaching to the floor)
    "pick up with two hands": "pick up with both hands",  # apart from the one-hand class of the same dataset
    "drop trash": "drop",  # = NTU "drop"
    "walk around": "walk",
    "sit down": "sit down",
    "stand up": "stand up",
    "donning": "put on jacket",  # = NTU "wear jacket" (NW-UCLA's donning is putting on a jacket)
    "doffing": "take off jacket",  # = NTU "take off jacket"
    "throw": "throw",
    "carry": "carry",
}

_MSR_ACTION3D = {
    "high arm wave": "wave hand",
    "horizontal arm wave": "wave arm sideways",  # apart from "high arm wave" of the same dataset
    "hammer": "hammer",
    "hand catch": "catch",
    "forward punch": "punch forward",
    "high throw": "throw",
    "draw X": "draw x",
    "draw tick": "draw tick",
    "draw circle": "draw circle",  # no direction: apart from both of UTD-MHAD's directed circles
    "hand clap": "clap",
    "two hand wave": "wave both hands",
    "side boxing": "side boxing",
    "bend": "bend",
    "forward kick": "kick",  # = NTU "kicking something", MSRC-12 "kick" (a forward kick)
    "side kick": "side kick",
    "jogging": "jog",
    "tennis swing": "tennis forehand",
    "tennis serve": "tennis serve",
    "golf swing": "golf swing",
    "pickup and throw": "pick up and throw",
}

_NTU60_OWN = {  # NTU classes no other dataset has: a cleaned-up name of their own
    "brushing teeth": "brush teeth",
    "brushing hair": "brush hair",
    "tear up paper": "tear up paper",
    "wear a shoe": "put on shoe",
    "take off a shoe": "take off shoe",
    "wear on glasses": "put on glasses",
    "take off glasses": "take off glasses",
    "put on a hat/cap": "put on hat",
    "take off a hat/cap": "take off hat",
    "put something inside pocket / take out something from pocket": "reach into pocket",
    "hopping (one foot jumping)": "hop",
    "jump up": "jump up",
    "playing with phone/tablet": "play with phone",
    "typing on a keyboard": "type on keyboard",
    "pointing to something with finger": "point with finger",
    "taking a selfie": "take selfie",
    "check time (from watch)": "check watch",
    "rub two hands together": "rub hands",
    "shake head": "shake head",
    "wipe face": "wipe face",
    "salute": "salute",
    "put the palms together": "palms together",
    "cross hands in front (say stop)": "cross hands in front",  # "stop" gesture: apart from UTD "cross arms"
    "sneeze/cough": "sneeze or cough",
    "staggering": "stagger",
    "falling": "fall",
    "touch head (headache)": "touch head",
    "touch chest (stomachache/heart pain)": "touch chest",
    "touch back (backache)": "touch back",
    "touch neck (neckache)": "touch neck",
    "nausea or vomiting condition": "vomit",
    "use a fan (with hand or paper)/feeling warm": "fan oneself",
    # Interactions of two people (A050-A060): their own labels; nothing single-person merges with them.
    "punching/slapping other person": "hit other person",
    "kicking other person": "kick other person",
    "pushing other person": "push other person",
    "pat on back of other person": "pat other person on back",
    "point finger at the other person": "point at other person",
    "hugging other person": "hug",
    "giving something to other person": "give object",
    "touch other person's pocket": "touch other person's pocket",
    "handshaking": "handshake",
    "walking towards each other": "walk towards each other",
    "walking apart from each other": "walk apart",
}

_NTU60 = {
    "drink water": "drink",  # = MSR DailyActivity3D "drink"
    "eat meal/snack": "eat",  # = MSR DailyActivity3D "eat"
    "drop": "drop",
    "pickup": "pick up",
    "throw": "throw",
    "sitting down": "sit down",
    "standing up (from sitting position)": "stand up",
    "clapping": "clap",
    "reading": "read",  # = MSR DailyActivity3D "read book"
    "writing": "write",  # = MSR DailyActivity3D "write on a paper"
    "wear jacket": "put on jacket",
    "take off jacket": "take off jacket",
    "cheer up": "cheer up",  # = MSR DailyActivity3D "cheer up" (both arms raised)
    "hand waving": "wave hand",
    "kicking something": "kick",
    "make a phone call/answer phone": "phone call",  # = MSR DailyActivity3D "call cellphone"
    "nod head/bow": "bow",  # = MSRC-12 "bow"
    **_NTU60_OWN,
}

_MSRC12 = {
    "lift outstretched arms": "lift outstretched arms",
    "duck": "duck",  # a quick crouch to dodge: apart from the slower "squat"
    "push right": "push right",  # one-handed sideways push: apart from "push with both hands"
    "goggles": "goggles",
    "wind it up": "wind it up",
    "shoot": "shoot with pistol",  # a pistol gesture with both hands: apart from "basketball shot"
    "bow": "bow",
    "throw": "throw",
    "had enough": "had enough",
    "change weapon": "change weapon",
    "beat both": "beat both",
    "kick": "kick",
}

_MSR_DAILY = {
    "drink": "drink",
    "eat": "eat",
    "read book": "read",
    "call cellphone": "phone call",
    "write on a paper": "write",
    "use laptop": "use laptop",  # typing and looking at a screen while seated: apart from NTU "typing on a keyboard"
    "use vacuum cleaner": "vacuum",
    "cheer up": "cheer up",
    "sit still": "sit still",
    "toss paper": "toss paper",  # a gentle underhand toss while seated: apart from the overhand "throw"
    "play game": "play game",  # with a game controller: apart from NTU "playing with phone/tablet"
    "lie down on sofa": "lie down",
    "walk": "walk",
    "play guitar": "play guitar",
    "stand up": "stand up",
    "sit down": "sit down",
}

_SOURCES: dict[str, dict[str, str]] = {
    "utd_mhad": _UTD_MHAD,
    "nw_ucla": _NW_UCLA,
    "msr_action3d": _MSR_ACTION3D,
    "ntu60": _NTU60,
    "msrc12": _MSRC12,
    "msr_daily": _MSR_DAILY,
}
"""Reader name -> its mapping; vocabulary labels are numbered in order of first appearance here. PKU-MMD is not in
the table: its 51 classes are the NTU-60 ones it shares plus interactions, shipped as their own model
(``interactions``)."""


# ------------------------------------------------------------------------------------------------------------------
# The type.
# ------------------------------------------------------------------------------------------------------------------


def spelling_key(label: str) -> str:
    """``label`` reduced to what spelling variants share: lower case, letters and digits only, no plural ``s``
    (``"Wave hands"`` and ``"wave-hand"`` -> ``"wavehand"``); two vocabulary labels must never share it."""
    words = re.findall(r"[a-z0-9]+", label.lower())
    return "".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words)


@dataclass(frozen=True)
class Vocabulary:
    """Vocabulary labels and, per dataset, its class names mapped to them.

    Attributes:
        name: the vocabulary's registered name (``unified``).
        sources: reader name -> {class name as the reader names it -> vocabulary label}.
        labels: the vocabulary labels in a fixed order (first appearance in ``sources``); label ``i`` of a model
            trained with this vocabulary is ``labels[i]``.
    """

    name: str
    sources: Mapping[str, Mapping[str, str]]
    labels: tuple[str, ...]

    @classmethod
    def from_sources(cls, name: str, sources: Mapping[str, Mapping[str, str]]) -> Vocabulary:
        labels = tuple(dict.fromkeys(label for mapping in sources.values() for label in mapping.values()))
        return cls(name, {d: dict(m) for d, m in sources.items()}, labels)

    @property
    def datasets(self) -> list[str]:
        return list(self.sources)

    def restrict(self, datasets: Iterable[str]) -> Vocabulary:
        """The vocabulary of some datasets only (labels no chosen dataset has are dropped)."""
        chosen = list(dict.fromkeys(datasets))
        unknown = [d for d in chosen if d not in self.sources]
        if unknown:
            raise SkelrecError(
                f"vocabulary {self.name!r} has no dataset {', '.join(unknown)}; it maps: {', '.join(self.sources)}"
            )
        return Vocabulary.from_sources(self.name, {d: self.sources[d] for d in chosen})

    def label_sources(self) -> dict[str, dict[str, str]]:
        """The ``config["label_sources"]`` entry of a model trained with this vocabulary (a JSON-ready copy)."""
        return {d: dict(m) for d, m in self.sources.items()}

    def index_map(self, dataset: str, classes: Iterable[str]) -> list[int]:
        """Vocabulary index of each of ``dataset``'s ``classes`` (its class index -> vocabulary index).

        Raises:
            SkelrecError: the dataset or one of its classes is not in the table.
        """
        if dataset not in self.sources:
            raise SkelrecError(
                f"vocabulary {self.name!r} does not map dataset {dataset!r} (it maps: {', '.join(self.sources)}); "
                "add its classes to skelrec/datasets/vocabulary.py or leave it out of the labelled data"
            )
        mapping, index = self.sources[dataset], {label: i for i, label in enumerate(self.labels)}
        missing = [c for c in classes if c not in mapping]
        if missing:
            raise SkelrecError(
                f"vocabulary {self.name!r}: {dataset} class {missing[0]!r} has no vocabulary label; add it to the "
                "table in skelrec/datasets/vocabulary.py"
            )
        return [index[mapping[c]] for c in classes]


UNIFIED = Vocabulary.from_sources("unified", _SOURCES)
"""Every labelled skeleton dataset skelrec reads (see the module docstring)."""

VOCABULARIES: dict[str, Vocabulary] = {UNIFIED.name: UNIFIED}


def get_vocabulary(name: str) -> Vocabulary:
    """The registered vocabulary ``name``; an unknown name is a one-line error listing the known ones."""
    if name not in VOCABULARIES:
        raise SkelrecError(f"unknown vocabulary {name!r}; choose one of: {', '.join(VOCABULARIES)}")
    return VOCABULARIES[name]
