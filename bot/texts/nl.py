"""Wat de bot zelf zegt, in het Nederlands. Pas de woorden gerust aan; {…} laten staan."""

from bot.texts.base import Texts

TEXTS = Texts(
    welcome=(
        "Hallo! Je spreekt met de Thuisgeverstelefoon van De Thuisgevers. Stel je vraag over "
        "tijdelijke huisvesting van statushouders, buddy's, kosten of afspraken met de gemeente. "
        "Typ 'menu' voor de onderwerpen of 'pionier' voor een mens."
    ),
    thanks="Graag gedaan! Je kunt altijd een nieuwe vraag stellen.",
    menu_intro="Hier kan ik je mee helpen:",
    menu_outro="Stel je vraag in je eigen woorden, of typ 'pionier' voor een mens.",
    empty="Typ gerust je vraag, dan zoek ik het antwoord voor je op.",
    too_long="Je bericht was erg lang; ik heb naar het eerste deel gekeken.",
    clarify_intro="Bedoel je",
    clarify_outro="Typ het nummer, of 'geen van beide'.",
    clarify_none_label="Geen van beide",
    clarify_again="Typ {choices}, of 'geen van beide'. Of stel je vraag opnieuw.",
    escalated="Dank je. Deze vraag geef ik door aan een pionier van De Thuisgevers.",
    escalated_ticket=(
        "Dank je. Ik heb je vraag doorgezet naar een pionier van De Thuisgevers "
        "(vraagnummer {ticket}). Je krijgt antwoord via dit kanaal."
    ),
    business_hours_in="Pioniers zijn er op werkdagen van {start} tot {end} uur; meestal hoor je vandaag nog iets.",
    business_hours_out="Pioniers zijn er op werkdagen van {start} tot {end} uur; je hoort van ons op de eerstvolgende werkdag.",
    ticket_extra="Aangevuld bij je vraag (nummer {ticket}); de pionier ziet het.",
    ticket_still_open="Je vraag (nummer {ticket}) ligt bij een pionier; je hoort snel van ons.",
    other_language=(
        "Sorry, ik begrijp alleen Nederlands en Engels. Ik geef je bericht door aan een pionier.\n"
        "Sorry, I only understand Dutch and English; a pioneer can help you."
    ),
    erase_confirm=(
        "Wil je dat we al je gegevens en berichten bij de Thuisgeverstelefoon wissen? "
        "Typ 'ja' om te wissen of 'nee' om te stoppen."
    ),
    erase_done="Je gegevens en berichten zijn gewist. Je kunt ons altijd opnieuw een bericht sturen.",
    erase_cancelled="Oké, we wissen niets.",
    opted_out="Je bent afgemeld: je krijgt geen berichten meer van de Thuisgeverstelefoon. Stuur START om je weer aan te melden.",
    opted_in="Welkom terug! Je ontvangt weer berichten van de Thuisgeverstelefoon.",
    only_text="Ik kan alleen tekst lezen. Typ je vraag, dan help ik je verder.",
    feedback_question="Heeft dit geholpen? (ja/nee)",
    feedback_yes="Fijn! Stel gerust nog een vraag.",
    feedback_no="Jammer. Ik zet je vraag door naar een pionier.",
    rate_limited="Je stuurt veel berichten kort na elkaar. Wacht even; daarna help ik je graag verder.",
    pioneer_answer_prefix="Antwoord van {pioneer} (De Thuisgevers):",
    pioneer_claim_button="Oppakken",
    pioneer_close_button="Sluiten",
    pioneer_reply_hint="Antwoorden: reageer (reply) op dit bericht. /leer als reactie maakt er een kennisbank-suggestie van.",
    pioneer_reminder="Herinnering: #{ticket} wacht al {age} op een pionier.",
    pioneer_none_open="Er staan geen open vragen.",
    pioneer_ticket_usage="Gebruik: /ticket NUMMER, bijvoorbeeld /ticket 12.",
    pioneer_learned="Vraag #{ticket} staat als concept in {file}; het wordt pas gebruikt na nakijken.",
    pioneer_learn_usage="Gebruik /leer als reactie (reply) op de kaart van een beantwoorde vraag.",
)
