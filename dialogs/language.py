"""Which language a question is in, as far as the answers need to know: English, or Welsh.

The topics are written in English. A question in Welsh would be matched to a guessed topic, so
it gets a short reply instead: Welsh is not supported yet, and who to ask.

Example:
    >>> is_welsh("Oes angen caniatâd y rhieni arnaf i rannu gwybodaeth?")
    True
    >>> is_welsh("do I need the parents' consent to share with the school nurse?")
    False
    >>> is_welsh("what does diolch mean")
    False
"""

from __future__ import annotations

import re

# Words that are Welsh and not English words, mostly the function words every Welsh sentence uses.
WELSH_WORDS = frozenset("""
    ydy ydw ydych ydi yw mae maen oes oedd roedd rydw rwy rwyt dw dwi dych bydd byddaf fyddai
    dylwn ddylwn dylai ddylai gallaf galla alla allaf allwn gallwn gall gaf cael gennyf gen gennym
    gyda gydag efo gan heb wrth rhwng mewn yn yr y'r i'r o'r a'r ac neu ond os nad nid ddim wedi
    bod fod hefyd iawn beth pam pryd ble sut pwy faint fy fe fo hi ei ein eich eu nhw ni chi
    rhannu rannu gwybodaeth wybodaeth plentyn phlentyn blentyn plant phlant rhiant rhieni
    caniatâd caniatad ganiatâd ganiatad angen arnaf arnom diogelu ddiogelu gwasanaethau
    cymdeithasol heddlu ysgol athro athrawes gofal meddyg nyrs teulu diolch shwmae helo bore
    prynhawn noswaith esgusodwch
""".split())
ENGLISH_SHARED = frozenset("fe fo hi ni chi y a i am ar os ei heb gan bod nid".split())
"""Words on the list that are also English (or common typing): they count only beside the others."""
_WORD = re.compile(r"[a-zA-Zàâäèéêëìîïòôöùûüŵŷẁẃẅỳýÿ']+")


def is_welsh(text: str) -> bool:
    """True when the question reads as Welsh: at least three Welsh words, and most of its words."""
    words = [w.lower().strip("'") for w in _WORD.findall(text)]
    if len(words) < 3:
        return False
    distinctive = [w for w in words if w in WELSH_WORDS and w not in ENGLISH_SHARED]
    welsh = [w for w in words if w in WELSH_WORDS]
    return len(distinctive) >= 2 and len(welsh) >= 3 and len(welsh) >= 0.4 * len(words)
