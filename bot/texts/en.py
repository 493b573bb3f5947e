"""What the bot itself says, in English."""

from bot.texts.base import Texts

TEXTS = Texts(
    welcome=(
        "Hello! This is the Thuisgeverstelefoon of De Thuisgevers. Ask your question about "
        "temporary housing for refugees with a residence permit, buddies, costs or agreements "
        "with the municipality. Type 'menu' for the topics or 'pioneer' to reach a person."
    ),
    thanks="You're welcome! Feel free to ask another question.",
    menu_intro="I can help you with:",
    menu_outro="Ask your question in your own words, or type 'pioneer' to reach a person.",
    empty="Go ahead and type your question, and I'll look up the answer.",
    too_long="Your message was very long; I looked at the first part.",
    clarify_intro="Do you mean",
    clarify_outro="Type the number, or 'neither'.",
    clarify_none_label="Neither",
    clarify_again="Type {choices}, or 'neither'. Or ask your question again.",
    escalated="Thank you. I'm passing this question on to a pioneer of De Thuisgevers.",
    escalated_ticket=(
        "Thank you. I've passed your question on to a pioneer of De Thuisgevers "
        "(question number {ticket}). You'll get an answer on this channel."
    ),
    business_hours_in="Pioneers work on weekdays from {start}:00 to {end}:00; you'll usually hear from us today.",
    business_hours_out="Pioneers work on weekdays from {start}:00 to {end}:00; you'll hear from us on the next working day.",
    ticket_extra="Added to your question (number {ticket}); the pioneer will see it.",
    ticket_still_open="Your question (number {ticket}) is with a pioneer; you'll hear from us soon.",
    other_language=(
        "Sorry, ik begrijp alleen Nederlands en Engels. Ik geef je bericht door aan een pionier.\n"
        "Sorry, I only understand Dutch and English; a pioneer can help you."
    ),
    erase_confirm=(
        "Do you want us to erase all your data and messages at the Thuisgeverstelefoon? "
        "Type 'yes' to erase or 'no' to cancel."
    ),
    erase_done="Your data and messages have been erased. You can always message us again.",
    erase_cancelled="OK, nothing has been erased.",
    opted_out="You have unsubscribed: you won't get any more messages from the Thuisgeverstelefoon. Send START to subscribe again.",
    opted_in="Welcome back! You will receive messages from the Thuisgeverstelefoon again.",
    only_text="I can only read text. Please type your question and I'll help you.",
    feedback_question="Did this help? (yes/no)",
    feedback_yes="Great! Feel free to ask another question.",
    feedback_no="Sorry about that. I'm passing your question on to a pioneer.",
    rate_limited="You're sending many messages in a short time. Please wait a moment; then I'll gladly help.",
    pioneer_answer_prefix="Answer from {pioneer} (De Thuisgevers):",
    pioneer_claim_button="Claim",
    pioneer_close_button="Close",
    pioneer_reply_hint="To answer, reply to this message. /leer as a reply turns it into a knowledge-base suggestion.",
    pioneer_reminder="Reminder: #{ticket} has been waiting {age} for a pioneer.",
    pioneer_none_open="There are no open questions.",
    pioneer_ticket_usage="Usage: /ticket NUMBER, for example /ticket 12.",
    pioneer_learned="Question #{ticket} is saved as a draft in {file}; it is only used after review.",
    pioneer_learn_usage="Use /leer as a reply to the card of an answered question.",
)
