"""Matcher decisions on small, readable cases."""

import numpy as np

import bot.matcher as matcher_module
from bot.decision import Decision, Kind, Thresholds, decide, outweighs_cue
from bot.lexical import Lexical
from bot.matcher import Candidate
from bot.messages import Channel


def kind_and_id(engine, text, channel=Channel.WHATSAPP):
    d = engine.decide(text, channel).decision
    return d.kind, d.id


def test_plain_question_is_answered(engine):
    assert kind_and_id(engine, "wie betaalt de huur van het pand?") == (
        Kind.ANSWER, "har-financiering")


def test_synonyms_carry_the_match(engine):
    assert kind_and_id(engine, "wie financiert het vastgoed") == (Kind.ANSWER, "har-financiering")


def test_sms_shorthand(engine):
    assert kind_and_id(engine, "wt kost t ons als gem om jullie in te schakelen", Channel.SMS) == (
        Kind.ANSWER, "kosten")


def test_typo_in_key_term(engine):
    assert kind_and_id(engine, "hebben jullie ervaring met hervestegers?") == (
        Kind.ANSWER, "hervestigers")


def test_near_miss_is_escalated(engine):
    assert kind_and_id(engine, "ik zoek een buddy voor mijn hond")[0] is Kind.ESCALATE
    assert kind_and_id(engine, "hoeveel kost een pastorie kopen")[0] is Kind.ESCALATE


def test_nonsense_is_escalated(engine):
    assert kind_and_id(engine, "asdfjkl;")[0] is Kind.ESCALATE
    assert kind_and_id(engine, "wat voor weer wordt het morgen")[0] is Kind.ESCALATE


def test_english_question_answered_in_english(engine):
    reply = engine.decide("Who pays for the building where the refugees will live?")
    assert reply.decision.id == "har-financiering"
    assert reply.language.value == "en"
    assert reply.text == engine.kb.get("har-financiering").answer_en


def test_rank_is_sorted_with_scores(engine):
    ranked = engine.matcher.rank("buddy worden aanmelden")
    assert ranked and all(0 <= c.score <= 100 for c in ranked)
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)


def test_decision_rule():
    t = Thresholds(answer=50, margin=8, clarify=40)
    assert decide([Candidate("a", 70), Candidate("b", 40)], t).kind is Kind.ANSWER
    close = decide([Candidate("a", 55), Candidate("b", 51), Candidate("c", 20)], t)
    assert close.kind is Kind.CLARIFY and close.options == ("a", "b")
    assert decide([Candidate("a", 30)], t).kind is Kind.ESCALATE
    assert decide([], t).kind is Kind.ESCALATE


def test_intents_come_before_the_knowledge_base(engine):
    assert kind_and_id(engine, "hallo") == (Kind.INTENT, "groet")
    assert kind_and_id(engine, "STOP", Channel.SMS) == (Kind.INTENT, "stop")
    assert kind_and_id(engine, "ik wil een mens spreken") == (Kind.INTENT, "mens")
    assert kind_and_id(engine, "please delete my data") == (Kind.INTENT, "vergeet")
    assert kind_and_id(engine, "menu") == (Kind.INTENT, "menu")
    assert kind_and_id(engine, "thanks, that helps a lot") == (Kind.INTENT, "bedankt")


def test_greeting_before_a_question_answers_the_question(engine):
    assert kind_and_id(engine, "Hallo! Wie betaalt de huur van het pand?") == (
        Kind.ANSWER, "har-financiering")
    # Without a question mark too, when both signals agree on the entry...
    assert kind_and_id(engine, "hoi, wie betaalt de huur van het pand") == (
        Kind.ANSWER, "har-financiering")
    # ...but thanks "for the info" is thanks: "info" alone is no question.
    assert kind_and_id(engine, "super, dank je wel voor de info 🙏") == (Kind.INTENT, "bedankt")


def test_compound_words_are_split(engine):
    # "maatschappelijkebegeleiding" is no phrasing; its parts are.
    assert kind_and_id(engine, "hoe lang duurt de maatschappelijkebegeleiding?") == (
        Kind.ANSWER, "begeleiding-samenwerking")
    assert kind_and_id(engine, "wie betaalt de tijdelijkehuisvesting van statushouders") == (
        Kind.ANSWER, "har-financiering")


def test_typos_in_key_terms(engine):
    assert kind_and_id(engine, "werken jullie samen met nidoss?") == (Kind.ANSWER, "nidos-amv")
    assert kind_and_id(engine, "hoe zit het met de zorgverzkering onder de HAR") == (
        Kind.ANSWER, "zorgverzekering-har")


def test_questions_the_sources_cannot_answer_go_to_a_pioneer(engine):
    for text in (
        "Hoeveel HAR-vergoeding krijgt de gemeente per persoon per nacht?",  # an amount
        "hoeveel statushouders wonen er nu precies in de pastorie?",  # today's figures
        "Mag onze bewoner bijverdienen naast zijn uitkering?",  # benefits
        "Kunnen jullie ons kerkgebouw verkopen?",  # property deal
        "HELP de vrouw in onze kerkwoning reageert niet!!",  # emergency, not the menu
    ):
        assert kind_and_id(engine, text)[0] is Kind.ESCALATE, text


def test_names_of_people_and_places_do_not_push_a_question_out(engine):
    text = ("Goedenavond, ik ben Gerrit uit Wezep. Via welke regeling wordt de tijdelijke "
            "huisvesting van statushouders betaald?")
    assert kind_and_id(engine, text) == (Kind.ANSWER, "har-financiering")


def test_agreeing_opinions_need_less_margin():
    t = Thresholds(answer=40, margin=10, clarify=30, agreed=35, support=0.5, min_support=0.1)
    # 45 against 40 is too close on the scores alone...
    assert decide([Candidate("a", 45), Candidate("b", 40)], t).kind is Kind.CLARIFY
    # ...unless the naive-Bayes opinion clearly prefers the same entry.
    agreed = decide([Candidate("a", 45, 0.9), Candidate("b", 40, 0.05)], t)
    assert (agreed.kind, agreed.id) == (Kind.ANSWER, "a")
    # A clear lead the naive-Bayes opinion does not share at all does not answer.
    vetoed = decide([Candidate("a", 80, 0.02), Candidate("b", 30, 0.5)], t)
    assert vetoed.kind is not Kind.ANSWER


def test_an_all_but_sure_second_opinion_answers_a_weak_match():
    t = Thresholds(answer=35, margin=10, clarify=28, agreed=33, support=0.5, sure=25,
                   sure_support=0.9)
    # Few words in common, but the naive-Bayes opinion has no doubt...
    sure = decide([Candidate("a", 27, 0.95), Candidate("b", 24, 0.03)], t)
    assert (sure.kind, sure.id) == (Kind.ANSWER, "a")
    # ...which merely agreeing (0.8) is not, and below `sure` nothing answers.
    assert decide([Candidate("a", 27, 0.8), Candidate("b", 24, 0.1)], t).kind is Kind.ESCALATE
    assert decide([Candidate("a", 22, 0.99)], t).kind is Kind.ESCALATE


def test_candidates_carry_the_classifiers_support(engine):
    assert engine.matcher.classifier is not None
    ranked = engine.matcher.rank("hoe word ik buddy, waar kan ik me aanmelden?")
    assert ranked[0].entry_id == "buddy-worden"
    assert all(c.support is not None and 0.0 <= c.support <= 1.0 for c in ranked)
    assert ranked[0].support == max(c.support or 0.0 for c in ranked)


def test_a_base_too_large_for_the_classifier_gets_naive_bayes_support(kb, monkeypatch):
    monkeypatch.setattr(matcher_module, "MAX_LABELS", 5)
    matcher = matcher_module.Matcher(kb)
    assert matcher.classifier is None
    ranked = matcher.rank("hoe word ik buddy, waar kan ik me aanmelden?")
    assert ranked[0].entry_id == "buddy-worden"
    assert ranked[0].support == max(c.support or 0.0 for c in ranked) > 0.5


def test_context_sentences_do_not_answer_on_their_own(engine):
    # "ik ben Gerda van de diaconie van de Hervormde gemeente in Wilsum" has only common
    # words (kerk, gemeente): on its own it must not outrank the actual question.
    text = ("Goedemiddag, ik ben Gerda van de diaconie van de Hervormde gemeente in Wilsum. "
            "Op de gemeenteavond werd De Thuisgevers genoemd. Kunt u kort uitleggen wat "
            "jullie doen en wie erachter zit?")
    assert kind_and_id(engine, text) == (Kind.ANSWER, "wat-is-thuisgevers")


def test_an_excluded_word_lowers_an_entry_but_a_near_miss_stays_out(engine):
    matcher = engine.matcher
    plain = {c.entry_id: c.score for c in matcher.rank("wat doet een buddy precies")}
    dog = {c.entry_id: c.score for c in matcher.rank("wat doet een buddy voor mijn hond")}
    assert dog.get("buddy-rol", 0.0) < plain["buddy-rol"] / 1.5
    assert kind_and_id(engine, "ik zoek een buddy voor mijn hond")[0] is Kind.ESCALATE


def test_spam_that_opens_with_a_greeting_is_no_greeting(engine):
    assert kind_and_id(engine, "Hallo lieverd, investeer nu in crypto, 300% rendement") == (
        Kind.ESCALATE, None)
    # An opt-out is honoured whatever the message holds.
    assert kind_and_id(engine, "STOP") == (Kind.INTENT, "stop")


def test_polite_and_reordered_intents(engine):
    assert kind_and_id(engine, "uitschrijven aub") == (Kind.INTENT, "stop")
    assert kind_and_id(engine, "Ik wil dat jullie mijn nummer en berichten verwijderen.") == (
        Kind.INTENT, "vergeet")
    assert kind_and_id(engine, "kan ik een echt persoon spreken?") == (Kind.INTENT, "mens")
    assert kind_and_id(engine, "What topics can you help with?") == (Kind.INTENT, "menu")


def test_kinds_of_questions_beyond_the_knowledge_base_are_escalated():
    t = Thresholds(answer=40, margin=10, clarify=30)
    beyond = decide([Candidate("buiten:geld-en-werk", 70, 0.8, beyond=True),
                     Candidate("har-financiering", 45, 0.1)], t)
    assert beyond.kind is Kind.ESCALATE
    # Nobody is ever shown a kind as if it were an entry.
    assert [c.entry_id for c in beyond.candidates] == ["har-financiering"]
    close = decide([Candidate("a", 50, 0.15), Candidate("buiten:algemeen", 48, 0.3, beyond=True),
                    Candidate("b", 45, 0.15)], t)
    assert close.kind is Kind.CLARIFY and close.options == ("a", "b")


def test_matcher_ranks_the_beyond_examples_like_entries(kb):
    from bot.matcher import Matcher

    with_kinds = Matcher(kb, beyond={"geld": ["heeft onze bewoner recht op huurtoeslag",
                                              "hoeveel kinderbijslag krijgt het gezin"]})
    ranked = with_kinds.rank("krijgt het gezin in de pastorie huurtoeslag?")
    assert ranked[0].entry_id == "buiten:geld" and ranked[0].beyond
    assert not any(c.beyond for c in Matcher(kb, beyond={}).rank("huurtoeslag voor het gezin"))


def test_kinds_beyond_the_base_do_not_crowd_the_entries_out(kb):
    from bot.matcher import Matcher

    kinds = {f"soort{k}": ["heeft het gezin in de pastorie recht op huurtoeslag"]
             for k in range(4)}
    ranked = Matcher(kb, beyond=kinds).rank("krijgt het gezin in de pastorie huurtoeslag?")
    # Four kinds rank first, and the three best entries are still there behind them.
    assert [c.beyond for c in ranked] == [True] * 4 + [False] * 3


def test_a_subject_cue_the_best_entry_itself_covers_does_not_escalate(engine):
    # The regional entry explains that benefits differ per municipality: "uitkeringen" in a
    # question about housing together is no sign of a benefits question.
    text = ("Kunnen wij met de buurgemeenten samen statushouders huisvesten, en hoe zit het "
            "dan met de uitkeringen?")
    assert engine.scope.cue(text).about_subject
    assert kind_and_id(engine, text) == (Kind.ANSWER, "regio-samenwerking")
    # A benefits question no entry talks about still goes to a pioneer.
    assert kind_and_id(engine, "krijgt een statushouder in de pastorie bijstand?")[0] is (
        Kind.ESCALATE)


def test_a_subject_cue_gives_way_to_an_entry_both_signals_are_sure_of(engine):
    # "kopen" is a property cue, but buying in guidance is the guidance entry's subject.
    text = ("Wij kopen als gemeente de maatschappelijke begeleiding in. Hoe verhoudt de buddy "
            "zich tot die begeleider?")
    assert engine.scope.cue(text).reason == "property_and_tenancy"
    assert kind_and_id(engine, text) == (Kind.ANSWER, "begeleiding-samenwerking")
    # Tax on the fee: the second opinion is not sure enough of the HAR entry to outweigh
    # the cue on money, so a pioneer answers.
    taxed = "Moeten wij als kerk belasting betalen over de HAR-vergoeding?"
    assert kind_and_id(engine, taxed)[0] is Kind.ESCALATE
    # A request for legal advice stays one, however sure the match on its subject.
    advice = "Graag juridisch advies: hoe zit het met de HAR-vergoeding voor ons pand?"
    assert engine.scope.cue(advice).reason == "legal"
    assert kind_and_id(engine, advice)[0] is Kind.ESCALATE


def test_what_outweighs_a_cue():
    t = Thresholds()
    sure = [Candidate("a", 50, 0.95), Candidate("buiten:geld-en-werk", 38, 0.0, beyond=True)]
    assert outweighs_cue(sure, t)
    assert not outweighs_cue([Candidate("a", 50, 0.45), *sure[1:]], t)  # support too low
    assert not outweighs_cue([Candidate("a", 30, 0.95), *sure[1:]], t)  # score too low
    # A kind beyond the knowledge base within the margin keeps the cue standing.
    assert not outweighs_cue([sure[0], Candidate("buiten:geld-en-werk", 45, 0.0, beyond=True)],
                             t)
    assert not outweighs_cue(list(reversed(sure)), t)
    assert not outweighs_cue([], t)


def test_legal_advice_and_silence_for_weeks_go_to_a_pioneer(engine):
    # The rules in general are in the knowledge base; the law on one tenancy is not.
    tenancy = ("Wij verhuren als kerk een bovenwoning aan een statushouder. Heeft hij "
               "huurbescherming als wij het pand zelf nodig hebben?")
    assert engine.scope.cue(tenancy).reason == "legal"
    assert kind_and_id(engine, tenancy)[0] is Kind.ESCALATE
    assert kind_and_id(engine, "Could you give us legal advice on refusing the quota of "
                               "refugees?")[0] is Kind.ESCALATE
    # The permit entry itself covers whether a temporary stay is allowed.
    assert kind_and_id(engine, "mag een gezin juridisch gezien tijdelijk in ons kerkgebouw "
                               "wonen?") == (Kind.ANSWER, "vergunning-tijdelijke-huisvesting")
    # A case that has stalled is followed up by a pioneer, not answered in general.
    stalled = "de voogd van ons gezin reageert al weken niet, wat nu?"
    assert engine.scope.cue(stalled).reason == "follow_up"
    assert kind_and_id(engine, stalled)[0] is Kind.ESCALATE


def escalated_for_their_cue(engine, cases: dict[str, str]) -> None:
    """Each text gives the scope cue named beside it and goes to a pioneer."""
    for text, reason in cases.items():
        assert engine.scope.cue(text).reason == reason, text
        assert kind_and_id(engine, text)[0] is Kind.ESCALATE, text


def test_one_case_a_complaint_and_a_relatives_journey_go_to_a_pioneer(engine):
    # Each shares its words with an entry (health insurance, the permit, Ukraine), but asks
    # about one family's case, a complaint or a personal journey: a pioneer answers those.
    cases = {
        "De familie woont nu zes weken in onze pastorie en heeft nog altijd geen huisarts. "
        "Wanneer krijgen zij er eindelijk een?": "follow_up",
        "We hebben een vergunning aangevraagd voor ons kerkelijk centrum. Heeft de gemeente al "
        "een besluit genomen? We horen maar niets.": "follow_up",
        "Ik wil een formele klacht indienen: niemand heeft teruggebeld.": "follow_up",
        "Dit is een klacht over hoe mijn vraag is behandeld.": "complaint",
        "kan mn moeder uit oekraine nog naar nederland komen?": "immigration",
        "how many refugees have you housed in Marwoude specifically?": "current",
        "Wie is de contactpersoon bij het COA voor onze regio?": "personal_request",
        "kunnen jullie voor ons contact leggen met de moskee?": "personal_request",
    }
    escalated_for_their_cue(engine, cases)
    # Symptoms are no complaint: "medische klachten" is a question about care.
    assert engine.scope.cue("bij medische klachten, hoe zit het met de zorgverzekering?") is None
    # Being put in touch with a pioneer is what the helpline does.
    assert engine.scope.cue("kunnen jullie me in contact brengen met een pionier?") is None


def test_where_ones_own_case_stands_dates_and_amounts_go_to_a_pioneer(engine):
    cases = {
        "Is onze vergunning voor de pastorie inmiddels verleend?": "follow_up",
        "has our HAR application been approved yet?": "follow_up",
        "I am a refugee in the asylum centre, can you find me a house?": "personal_housing",
        "wat is de deadline voor het aanvragen van de HAR?": "appointment",
        "how many status holders did you house last month?": "current",
        "De tandarts stuurde een rekening van €380, wie betaalt dat?": "amount",
        "Kunnen jullie dat voor ons regelen met het COA?": "personal_request",
        "mag ik het 06-nummer van onze buddy?": "personal_request",
        "when will our family finally get a permanent home?": "follow_up",
    }
    escalated_for_their_cue(engine, cases)
    # The rules in general are no such case: answered, or (since the classifier of the
    # thirteenth session) asked which of two entries is meant, never a pioneer's question.
    d = engine.decide("hoe lang mogen ze in de pastorie blijven?").decision
    assert (d.kind, d.id) == (Kind.ANSWER, "duur-huisvesting") or (
        d.kind is Kind.CLARIFY and "duur-huisvesting" in d.options)


def test_requests_to_act_for_them_and_money_per_head_go_to_a_pioneer(engine):
    cases = {
        "Is de intentieovereenkomst van onze gemeente al door het college getekend?":
            "follow_up",
        "Kunnen jullie de buurvrouw voor ons bellen over de sleutel?": "personal_request",
        "Kunt u mijn gegevens doorsturen naar het COA?": "personal_request",
        "Mag ik de mobiele nummers van de buddy's?": "personal_request",
        "Hoeveel vergoeding krijgt de gemeente per gehuisveste statushouder?": "amount",
        "What does a building permit cost for the chapel?": "amount",
        "how many families did you house last quarter?": "current",
        "Moet onze opstalverzekering omhoog nu er mensen in de pastorie wonen?":
            "property_and_tenancy",
        "Kunt u het aanvraagformulier van het COA naar mij mailen?": "personal_request",
        "Gaat zijn zorgverzekering met terugwerkende kracht in?": "personal_request",
    }
    escalated_for_their_cue(engine, cases)
    # What the helpline itself does stays answered: its costs, the HAR's, its documents.
    assert engine.scope.cue("wat kost de ondersteuning van een pionier?") is None
    assert engine.scope.cue("kunnen jullie ons de voorbeelddocumenten sturen?") is None
    # What the help costs, invoice and all, is the knowledge base's (no spam, no case).
    assert kind_and_id(engine, "krijgen we als gemeente achteraf een factuur van jullie?") == (
        Kind.ANSWER, "kosten")
    # "per person" is money only with a word of money: a buddy per person is not.
    assert engine.scope.cue("Does each family get its own buddy, or one per person?") is None
    # Nor is "per week" without one: how often, not how much.
    assert engine.scope.cue("hoe vaak zie je elkaar als buddy, 1x per week?") is None
    assert engine.scope.cue("hoeveel leefgeld krijgen ze per week?").reason == "amount"


def test_someone_elses_details_volunteering_elsewhere_and_acts_done_go_to_a_pioneer(engine):
    cases = {
        "Heeft de kwartiermaker al contact opgenomen met onze wethouder?": "follow_up",
        "Has your pioneer already called the housing corporation?": "follow_up",
        "Kunnen jullie de burgemeester van Dalfsen eens benaderen?": "personal_request",
        "Could you call the alderman and explain the plan?": "personal_request",
        "Wie is de pionier in Drenthe en wat is haar telefoonnummer?": "personal_request",
        "Mag ik de naam en het mailadres van jullie projectleider?": "personal_request",
        "Ik wil graag vrijwilliger worden bij de voedselbank, kan dat via jullie?":
            "personal_request",
        "Ik zoek een maatje voor mijn kat als ik op vakantie ben": "personal_request",
        "Wat is het exacte budget van het ministerie voor jullie?": "current",
        "Zijn we verzekerd als er schade aan de kerkzaal komt?": "property_and_tenancy",
        "Heeft u mijn bericht over de kosterswoning al gelezen?": "follow_up",
        "Ik heb me aangemeld maar nog geen bevestiging gekregen": "follow_up",
        "Could you send me the email address of your coordinator?": "personal_request",
        "Kunnen jullie namens ons met de corporatie praten?": "personal_request",
        "Wat is het telefoonnummer van de kwartiermaker?": "personal_request",
        "Kunnen jullie ons inschrijven voor de sessie van donderdag?": "personal_request",
        "Kun je een afspraak bij de tandarts voor hem maken?": "personal_request",
        "Wat zijn de regels voor zonnepanelen op de pastorie?": "property_and_tenancy",
        "Betalen we toeristenbelasting voor de bewoners?": "tax",
        "Moet de vrijwilligersvergoeding van een buddy bij de belasting worden opgegeven?": "tax",
        "Mogen we de bewoners verplichten om Nederlands te leren?": "legal",
        "What will the weather be like on Saturday?": "off_topic",
        "Kunt u mij het persoonlijke mailadres van de pionier sturen?": "personal_request",
        "Could you book an appointment with a GP for us?": "personal_request",
        "Hoe word ik voogd van een jongen via Nidos?": "personal_request",
        "Welke pillen helpen tegen zijn paniekaanvallen?": "health",
        "Kunt u het contract dat we vorige week bespraken opsturen?": "follow_up",
        "Wanneer wordt onze aanvraag behandeld?": "follow_up",
        "Moeten we het plan uiterlijk 1 maart indienen?": "appointment",
        "Krijgt de gemeente een boete als de taakstelling niet gehaald wordt?": "legal",
        "Hoeveel flexwoningen zijn er inmiddels opgeleverd?": "current",
        "Kan ik ook voorrang krijgen op een huurwoning?": "personal_housing",
        "Haar tijdelijke bescherming loopt af in maart, wat nu?": "immigration",
        "Wat verandert er als onze jongen van Nidos 18 wordt?": "personal_request",
        "Kunnen jullie een buddy vinden voor mijn oma?": "personal_request",
        "Factuur 2023-77 is nog niet betaald, wie kijkt ernaar?": "follow_up",
        "We wachten nog steeds op de beloofde documenten": "follow_up",
        "Zou u voor ons een raadsvoorstel kunnen schrijven?": "personal_request",
    }
    escalated_for_their_cue(engine, cases)
    # The helpline's own ways of contact and becoming a buddy here stay answered.
    assert engine.scope.cue("hoe kan ik jullie bereiken buiten deze chat?") is None
    assert kind_and_id(engine, "hoe kan ik jullie bereiken buiten deze chat?") == (
        Kind.ANSWER, "contact-pionier")
    assert engine.scope.cue("hoe word ik buddy voor een gezin in onze pastorie?") is None
    # Asking to be called is the intent to speak to a person, not a request to call others.
    assert kind_and_id(engine, "kunnen jullie mij bellen?") == (Kind.INTENT, "mens")


def test_asking_what_one_can_ask_is_the_menu(engine):
    assert kind_and_id(engine, "wat kan ik jou allemaal vragen?") == (Kind.INTENT, "menu")
    assert kind_and_id(engine, "is there a person I can talk to?") == (Kind.INTENT, "mens")
    assert kind_and_id(engine, "waarover kan ik u iets vragen?") == (Kind.INTENT, "menu")
    assert kind_and_id(engine, "kan ik een pionier aan de lijn krijgen?") == (
        Kind.INTENT, "mens")


def test_the_word_search_ranks_entries_by_their_words_as_written():
    lexical = Lexical([["hoe word ik buddy", "buddy worden"], ["wie betaalt de huur"]],
                      str.split)
    assert lexical.scores("kan ik buddy worden")[0] > lexical.scores("kan ik buddy worden")[1]
    assert list(lexical.relative("wie betaalt de huur?")) == [0.0, 1.0]
    assert lexical.relative("appeltaart recept") is None  # no word in common: no opinion


def test_a_best_candidate_the_word_search_finds_weak_does_not_answer_on_its_own():
    t = Thresholds(answer=35, margin=10, agreed=33, support=0.5, lexical=0.8,
                   lexical_support=0.9, lexical_score=70)
    # Score and support lean to "a", the word search to "b": three opinions, split.
    split = decide([Candidate("a", 55, 0.6, lexical=0.5), Candidate("b", 30, 0.2, lexical=1.0)],
                   t)
    assert split.kind is Kind.ESCALATE
    # The word search agreeing enough, or either of the others being sure, answers.
    for best in (Candidate("a", 55, 0.6, lexical=0.9), Candidate("a", 55, 0.95, lexical=0.5),
                 Candidate("a", 75, 0.6, lexical=0.5), Candidate("a", 55, 0.6)):
        assert decide([best, Candidate("b", 30, 0.2, lexical=1.0)], t).kind is Kind.ANSWER
    # Where the word search's best also has more support, the two outvote the score.
    switched = decide([Candidate("a", 60, 0.3, lexical=0.4), Candidate("b", 30, 0.55, lexical=1.0)],
                      t)
    assert (switched.kind, switched.id) == (Kind.ANSWER, "b")


def test_a_vetoed_best_gives_way_to_the_candidate_the_second_opinion_prefers():
    t = Thresholds(answer=35, margin=10, clarify=28, min_support=0.1, switch=30,
                   switch_support=0.8)
    switched = decide([Candidate("a", 60, 0.01), Candidate("b", 34, 0.95)], t)
    assert (switched.kind, switched.id) == (Kind.ANSWER, "b")
    # Not when the preferred one scores too little on its own.
    assert decide([Candidate("a", 60, 0.01), Candidate("b", 20, 0.95)], t).kind is not (
        Kind.ANSWER)


def test_large_base_path_scores_exactly_like_the_small_one(kb, monkeypatch):
    import bot.matcher as matcher_module

    small = matcher_module.Matcher(kb)
    monkeypatch.setattr(matcher_module, "SMALL_BASE_PHRASINGS", 0)
    large = matcher_module.Matcher(kb)
    assert small._phrasings_with is not None and large._phrasings_with is None
    for text in ["wie betaalt de tijdelijke huisvesting van statushouders?",
                 "Goedemiddag, ik ben Gerda. Hoe word ik buddy? En wat doet een buddy?",
                 "hoe lang mag een gezin in de pastorie blijven", "nidos amv"]:
        assert small.rank(text) == large.rank(text)


def test_the_frame_of_a_message_is_not_its_question(engine):
    frame = engine.matcher.frame
    message = ("Goedemorgen, ik ben regionaal coördinator bij gemeente Epe. Wat houdt jullie "
               "ondersteuning aan gemeenten precies in? Met vriendelijke groet, Daan")
    assert frame.core(message) == "Wat houdt jullie ondersteuning aan gemeenten precies in?"
    assert frame.core("Hoi, ik ben Anneke uit Epe. Wat doet een buddy?") == "Wat doet een buddy?"
    assert frame.core("Ik ben Marloes Brink, teamleider wonen bij gemeente Heerdewijk. Wat kost "
                      "het?") == "Wat kost het?"
    # "buddy" is no role: being one is what the question is about.
    assert frame.core("ik ben net buddy geworden, wat wordt er van mij verwacht?").startswith(
        "ik ben net buddy")
    # A role that opens the sentence ends where its verb follows: the question is kept.
    assert frame.core("Als diaken van de kerk in Epe vraag ik me af hoe lang een gezin mag "
                      "blijven.") == "vraag ik me af hoe lang een gezin mag blijven"
    # A role after an article is the sentence's subject, not who writes; an introduction
    # without a verb ends at its colon.
    assert frame.core("De wethouder wil weten hoe lang een gezin mag blijven.") == (
        "De wethouder wil weten hoe lang een gezin mag blijven")
    assert frame.core("Ambtenaar hier: mag een gezin een jaar blijven?") == (
        "mag een gezin een jaar blijven?")
    # A sign-off closes the message; thanks before a question are no sign-off.
    assert frame.core("Mag een gezin een jaar blijven? Alvast bedankt, Petra (diaken)") == (
        "Mag een gezin een jaar blijven?")
    assert frame.core("Bedankt voor de info! Mag een gezin ook een jaar blijven?") == (
        "Bedankt voor de info! Mag een gezin ook een jaar blijven?")
    # The role neither rules out the entry that excludes its word ("regionaal")...
    assert kind_and_id(engine, message) == (Kind.ANSWER, "ondersteuning-gemeente")
    # ...nor does the same question without the frame change its answer.
    assert kind_and_id(engine, frame.core(message)) == (Kind.ANSWER, "ondersteuning-gemeente")


def test_a_split_compound_does_not_hide_an_exclude(engine):
    # "kerkdienst" is excluded by the entries that share "kerk"; it must not be split.
    assert "kerkdienst" in engine.matcher.tokens("hoe laat begint de kerkdienst")


def test_an_exclude_with_function_words_occurs_as_written(engine):
    m = engine.matcher
    index = m._index["zorgverzekering-har"]  # excludes "als vrijwilliger", not "vrijwilliger"

    def excluded(text):
        return bool(m.excluded(m.tokens(text), text)[index])

    assert excluded("ben ik als vrijwilliger verzekerd bij het rijden?")
    assert not excluded("ik ben vrijwilliger bij het initiatief. hoe zit het met de zorg?")


def test_a_planned_visit_is_followed_up_by_a_pioneer(engine):
    message = ("Goedemiddag, gemeente Epe. Wanneer komt jullie pionier nu langs voor het gesprek "
               "over de pastorie? Er zou volgende week iets gepland staan.")
    assert kind_and_id(engine, message)[0] is Kind.ESCALATE
    # The general question is answered.
    assert kind_and_id(engine, "hoe kan ik contact opnemen met een pionier?")[0] is Kind.ANSWER


def test_pruned_ranking_equals_the_exhaustive_one(engine):
    """`rank` scores entries best bound first and skips the entries and fuzzy comparisons
    that cannot change the top three, over the parts of a message together; the result
    must be what scoring every entry in full gives, ties included (first id first)."""
    import json
    from pathlib import Path

    m = engine.matcher
    data = Path(__file__).parent / "data"
    texts = [json.loads(line)["text"] for name in ("tuning.jsonl", "tuning2.jsonl")
             for line in (data / name).read_text("utf-8").splitlines()]
    for text in texts:
        every = m.rank(text, limit=len(m._entries))
        entries = [c for c in every if not c.beyond][:3]
        least = entries[-1].score if len(entries) == 3 else 0.0
        expected = [c for c in every if c in entries or (c.beyond and c.score >= least)]
        assert m.rank(text) == expected, text


def test_a_compound_meets_a_required_concept_by_its_head(engine):
    m = engine.matcher
    item = m._entries[m._index["regio-samenwerking"]]  # requires a region concept
    query = m.tokens("in onze arbeidsmarktregio willen we samen huisvesten")
    group = item.requires[0]
    assert "arbeidsmarktregio" in query and group.single.isdisjoint(query)
    assert not any(words <= query for words in group.multi)
    nothing_excluded = np.zeros(len(m._entries), dtype=bool)
    assert m.eligibility(query, nothing_excluded)[m._index[item.id]] == 1.0
    # The same words without the compound do not meet it.
    other = m.tokens("in onze arbeidsmarkt willen we samen huisvesten")
    assert m.eligibility(other, nothing_excluded)[m._index[item.id]] < 1.0
    # Only the head counts: a word that merely starts with the concept does not meet it.
    assert "regio" not in m.heads(frozenset({"regiotaxi"}))


def test_an_equals_sign_asks_whether_two_terms_are_the_same(engine):
    assert kind_and_id(engine, "vergunninghouder = statushouder? of is dat wat anders") == (
        Kind.ANSWER, "statushouder-definitie")


def test_the_un_in_capitals_meets_the_resettlement_concept(engine):
    assert kind_and_id(engine, "hebben jullie ervaring met mensen die via de VN komen?") == (
        Kind.ANSWER, "hervestigers")


def test_not_being_a_church_is_about_faith_not_about_a_building(engine):
    # "geen kerk" is no church word: a building in the same message does not make it a
    # question about offering that building.
    assert kind_and_id(engine, "ons dorpshuis is niet kerkelijk, kunnen we toch aansluiten?") == (
        Kind.ANSWER, "levensbeschouwing")
    # In English the plain word search (`Candidate.lexical`) finds the building entry
    # strongest ("church", "association"): with the opinions split, a pioneer answers, and
    # the near-miss is never the answer.
    english = "We are not a church but a neighbourhood association, can we join?"
    assert kind_and_id(engine, english) == (Kind.ESCALATE, None)
    assert kind_and_id(engine, "onze kerk heeft een leeg dorpshuis, kunnen jullie daar "
                               "iets mee?") == (Kind.ANSWER, "vastgoed-zoeken")


def test_wanting_a_person_is_said_in_one_breath_not_across_a_message(engine):
    assert kind_and_id(engine, "ik zou graag even met iemand willen praten") == (
        Kind.INTENT, "mens")
    # "wil" in one sentence and "contact" in another: a question about how to get in touch.
    asked = ("Ik wil graag eens van gedachten wisselen over de mogelijkheden in onze "
             "gemeente met iemand van jullie. Via welke weg kan ik het beste contact leggen?")
    assert kind_and_id(engine, asked) == (Kind.ANSWER, "contact-pionier")


def test_a_candidate_the_second_opinion_supports_answers_when_the_best_is_vetoed():
    t = Thresholds()
    vetoed_best = [Candidate("duur-huisvesting", 65.0, 0.02), Candidate("bzk-permanent", 38.0, 0.7)]
    assert decide(vetoed_best, t) == Decision(Kind.ANSWER, "bzk-permanent", score=38.0)
    weakly = [Candidate("duur-huisvesting", 65.0, 0.02), Candidate("bzk-permanent", 38.0, 0.4)]
    assert decide(weakly, t).kind is Kind.ESCALATE
