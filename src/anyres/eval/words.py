"""The text drawn on generated documents: a vocabulary, numbers, dates and codes.

Words are common English words of three letters or more (no language model helps a
CTC reader, so familiarity does not make them easier), mixed with the tokens documents
are full of: prices, quantities, dates, times, reference codes and capitalised names.
"""

from __future__ import annotations

import random

VOCABULARY = tuple(
    """
able about above accept account across action active actual address admit adult affect after again
agency agent agree ahead allow almost alone along already also always amount analysis animal annual
answer anyone apply approach area argue around arrive article artist assume attack attention audience
author available avoid back balance bank base beautiful because become before begin behind believe
benefit best better between beyond bill black blood blue board body book born both break bring brother
budget build building business call camera campaign cancer capital card care career carry case catch
cause cell center central century certain chair challenge chance change charge check child choice
choose church citizen city civil claim class clear close coach cold collection college color common
community company compare computer concern condition conference consider contain continue control cost
could country couple course court cover create crime cultural culture current customer cycle damage
data daughter deal death debate decade decide decision deep defense degree deliver demand describe design
detail determine develop device difference different difficult dinner direction director discover discuss
disease doctor door down draw dream drive during early east easy economic economy edge effect effort
eight either election else employee energy enjoy enough enter entire environment especially establish
evening event every evidence exactly example executive exist expect experience expert explain factor
fail fall family father fear federal feel field fight figure fill film final finally financial find fine
finger finish fire firm first fish five floor focus follow food foot force foreign forget form former
forward four free friend front full fund future game garden general generation girl give glass goal
good government great green ground group grow growth guess hair half hand hang happen happy hard have
head health hear heart heat heavy help here herself high himself history hold home hope hospital hotel
hour house however huge human hundred husband idea identify image imagine impact important improve
include increase indeed indicate industry information inside instead interest international interview
into invoice item itself join just keep kind kitchen know land language large last late later laugh
lawyer layer lead leader learn least leave left legal less letter level life light like likely line
list listen little live local long look lose loss love machine magazine main maintain major manage
manager many market marriage material matter maybe measure media medical meeting member memory mention
message method middle might military million mind minute miss mission model modern moment money month
more morning most mother mouth move movie much music must myself name nation national natural nature
near nearly necessary need network never news newspaper next nice night none north note nothing notice
number occur offer office officer official often once only onto open operation option order organization
other others outside over owner page pain painting paper parent part participant particular partner
party pass past patient pattern peace people perform perhaps period person personal phone physical pick
picture piece place plan plant play player point police policy political poor popular population
position positive possible power practice prepare present president pressure pretty prevent price
private probably problem process produce product production professional program project property
protect prove provide public pull purpose push quality question quickly quite race radio raise range
rate rather reach read ready real reality realize really reason receive recent record reduce reflect
region relate remain remember remove report represent require research resource respond response rest
result return reveal rich right rise risk road rock role room rule safe same save scene school science
score season seat second section security seek seem sell send senior sense series serious serve service
seven several shake share shoot short shoulder show side sign significant similar simple simply since
sing single sister site situation size skill skin small smile social society soldier some someone
something sometimes song soon sort sound source south southern space speak special specific speech spend
sport spring staff stage stand standard star start state statement station stay step still stock stop
store story strategy street strong structure student study stuff style subject success successful
suddenly suffer suggest summer support sure surface system table take talk task teach teacher team
technology television tell tend term test than thank that their them themselves then theory there these
they thing think third this those though thought thousand threat three through throughout throw thus
time today together tonight total tough toward town trade traditional training travel treat treatment
tree trial trip trouble true truth turn under understand unit until upon usually value various very
victim view violence visit voice vote wait walk wall want watch water weapon wear week weight well west
western what whatever when where whether which while white whole whom whose wide wife will wind window
wish with within without woman wonder word work worker world worry would write writer wrong yard yeah
year young yourself
""".split()
)

FIRST_NAMES = ("Anna", "Boris", "Chen", "Dara", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal",
               "Lucia", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Ulla", "Vera")
CITIES = ("Lisbon", "Oslo", "Nairobi", "Kyoto", "Quito", "Dakar", "Tallinn", "Perth", "Bergen", "Cusco",
          "Leipzig", "Manila", "Porto", "Rabat", "Seville", "Tbilisi", "Utrecht", "Valencia", "Windhoek")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def word(rng: random.Random) -> str:
    return rng.choice(VOCABULARY)


def price(rng: random.Random) -> str:
    return f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"


def token(rng: random.Random) -> str:
    """A word, a capitalised name or a number-like token, mostly words."""
    r = rng.random()
    if r < 0.72:
        return word(rng)
    if r < 0.80:
        return word(rng).capitalize()
    if r < 0.85:
        return rng.choice(FIRST_NAMES + CITIES)
    if r < 0.91:
        return price(rng)
    if r < 0.95:
        return str(rng.randint(10, 9999))
    if r < 0.98:
        return f"{rng.randint(1, 28)}-{rng.choice(MONTHS)}-{rng.randint(2001, 2029)}"
    return f"{rng.choice('ABCDEFGHKLMNPRSTUVXZ')}{rng.choice('ABCDEFGHKLMNPRSTUVXZ')}-{rng.randint(100, 99999)}"


def sentence(rng: random.Random, n_min: int = 4, n_max: int = 12) -> list[str]:
    words = [token(rng) for _ in range(rng.randint(n_min, n_max))]
    words[0] = words[0].capitalize()
    return words


def code(rng: random.Random) -> str:
    return f"{rng.choice(('INV', 'ORD', 'REF', 'TX', 'ID'))}-{rng.randint(10000, 999999)}"
