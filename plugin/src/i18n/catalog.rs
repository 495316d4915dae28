//! The catalog: every message key with its English and Dutch text. `{name}` is a parameter.
//! Each text says what happened and what to do.

/// Every key, for the completeness test.
#[cfg(test)]
pub const KEYS: &[&str] = &[
    "link.disabled",
    "link.no_provider",
    "provider.not_enabled",
    "provider.not_configured",
    "link.access_denied",
    "link.admin_policy_enforced",
    "link.org_internal",
    "link.admin_consent_required",
    "link.invalid_client",
    "link.code_invalid",
    "provider.error",
    "link.state_missing",
    "link.state_unknown",
    "link.state_expired",
    "link.state_used",
    "link.state_other_user",
    "link.state_other_issuer",
    "provider.unavailable",
    "provider.unavailable_retry_after",
    "policy.refused",
    "network.failed",
    "provider.malformed",
    "link.address_unknown",
    "link.different_account",
    "link.other_provider",
    "mailbox.not_linked",
    "settings.read_only",
    "settings.invalid",
    "reauth.needed",
    "storage.failed",
    "unlink.revocation_failed",
    "settings.changed",
    "imap.unreachable",
    "imap.tls_failed",
    "imap.protocol",
    "imap.throttled",
    "mapping.missing",
    "mapping.not_selectable",
    "mapping.used_twice",
    "sync.nothing_mapped",
    "sync.inbox_failed",
    "sync.folder_missing",
    "send.invalid_draft",
    "send.provider_limit",
    "send.rejected",
    "send.temporary",
    "send.not_authorised",
    "act.gone",
    "act.not_mapped",
    "act.refused",
    "act.temporary",
];

pub fn texts(key: &str) -> Option<(&'static str, &'static str)> {
    Some(match key {
        "act.gone" => (
            "The message is no longer where the CRM last saw it in your mailbox (it was moved or deleted there). Nothing was changed; the next sync shows where it is now.",
            "Het bericht staat niet meer waar het CRM het in uw mailbox zag (het is daar verplaatst of verwijderd). Er is niets gewijzigd; de volgende synchronisatie laat zien waar het nu staat.",
        ),
        "act.not_mapped" => (
            "The CRM folder \"{folder}\" is not linked to a folder of your mailbox. Choose one under \"Edit folders\", then try again.",
            "De CRM-map \"{folder}\" is niet gekoppeld aan een map van uw mailbox. Kies er een bij \"Mappen bewerken\" en probeer het opnieuw.",
        ),
        "act.refused" => (
            "Your mail server refused the change ({reply}). Nothing was changed in your mailbox.",
            "Uw mailserver weigerde de wijziging ({reply}). Er is niets gewijzigd in uw mailbox.",
        ),
        "act.temporary" => (
            "The change could not be made in your mailbox just now ({why}). It will be tried again shortly; you need not do anything.",
            "De wijziging kon zojuist niet in uw mailbox worden gemaakt ({why}). Ze wordt zo dadelijk opnieuw geprobeerd; u hoeft niets te doen.",
        ),
        "send.invalid_draft" => (
            "The message cannot be sent as it is: {why}. Correct it and send it again.",
            "Het bericht kan zo niet verstuurd worden: {why}. Pas het aan en verstuur het opnieuw.",
        ),
        "send.provider_limit" => (
            "Your mail service's daily sending limit is reached ({reply}). The message was not sent; send it again tomorrow.",
            "De dagelijkse verzendlimiet van uw maildienst is bereikt ({reply}). Het bericht is niet verstuurd; verstuur het morgen opnieuw.",
        ),
        "send.rejected" => (
            "Your mail service refused the message ({reply}). It was not sent; check the recipients and the content, then send it again.",
            "Uw maildienst weigerde het bericht ({reply}). Het is niet verstuurd; controleer de ontvangers en de inhoud en verstuur het opnieuw.",
        ),
        "send.not_authorised" => (
            "{provider} does not let this account send through the CRM; the message was not sent, and mail still syncs. Link the mailbox again and allow sending; with Microsoft 365, your administrator may also need to allow SMTP sending (SMTP AUTH) for your mailbox.",
            "{provider} staat dit account niet toe via het CRM te versturen; het bericht is niet verstuurd, en de mail wordt nog steeds gesynchroniseerd. Koppel de mailbox opnieuw en sta versturen toe; bij Microsoft 365 moet uw beheerder mogelijk ook SMTP-verzending (SMTP AUTH) voor uw mailbox toestaan.",
        ),
        "send.temporary" => (
            "The message could not be sent just now ({why}). It will be tried again shortly; you need not do anything.",
            "Het bericht kon zojuist niet verstuurd worden ({why}). Het wordt zo dadelijk opnieuw geprobeerd; u hoeft niets te doen.",
        ),
        "link.disabled" => (
            "Linking a mailbox is not switched on for this CRM. Ask customer success to enable the \"Link mailbox\" feature.",
            "Het koppelen van een mailbox staat niet aan voor dit CRM. Vraag customer success de functie \"Mailbox koppelen\" aan te zetten.",
        ),
        "link.no_provider" => (
            "No mail service can be linked yet. Ask your CRM administrator to enable one in the \"Imap oAuth2\" settings panel.",
            "Er kan nog geen maildienst gekoppeld worden. Vraag de beheerder van uw CRM er een aan te zetten in het instellingenpaneel \"Imap oAuth2\".",
        ),
        "provider.not_enabled" => (
            "{provider} cannot be selected: your CRM administrator has not enabled it. Ask them to enable it in the \"Imap oAuth2\" settings panel.",
            "{provider} kan niet gekozen worden: de beheerder van uw CRM heeft deze dienst niet aangezet. Vraag de beheerder dit te doen in het instellingenpaneel \"Imap oAuth2\".",
        ),
        "provider.not_configured" => (
            "{provider} is not fully set up in this CRM ({missing} is missing). Ask your CRM administrator to complete its settings.",
            "{provider} is niet volledig ingesteld in dit CRM ({missing} ontbreekt). Vraag de beheerder van uw CRM de instellingen aan te vullen.",
        ),
        "link.access_denied" => (
            "You did not give the CRM access to your mailbox at {provider}. Click \"Link mailbox\" again and choose \"Allow\" to link it.",
            "U heeft het CRM geen toegang gegeven tot uw mailbox bij {provider}. Klik opnieuw op \"Mailbox koppelen\" en kies \"Toestaan\" om te koppelen.",
        ),
        "link.admin_policy_enforced" => (
            "{provider} does not allow you to sign in: your organisation has not added the CRM as a trusted app. Ask your administrator to add the CRM as a trusted app, then link again.",
            "{provider} staat inloggen niet toe: uw organisatie heeft het CRM niet als vertrouwde app toegevoegd. Vraag uw beheerder het CRM als vertrouwde app toe te voegen en koppel daarna opnieuw.",
        ),
        "link.org_internal" => (
            "The CRM's sign-in at {provider} is limited to the accounts of another organisation. Sign in with an account of the organisation that set up the CRM, or ask your CRM administrator.",
            "Inloggen voor het CRM bij {provider} is beperkt tot de accounts van een andere organisatie. Log in met een account van de organisatie die het CRM heeft ingericht, of vraag de beheerder van uw CRM.",
        ),
        "link.admin_consent_required" => (
            "An administrator of your organisation must approve the CRM at {provider} before you can link your mailbox ({code}). Ask your administrator to grant consent for the CRM, then link again.",
            "Een beheerder van uw organisatie moet het CRM bij {provider} goedkeuren voordat u uw mailbox kunt koppelen ({code}). Vraag uw beheerder toestemming te geven voor het CRM en koppel daarna opnieuw.",
        ),
        "link.invalid_client" => (
            "{provider} refused the CRM's own credentials: the CRM is misconfigured. You cannot fix this yourself; contact your CRM administrator or support.",
            "{provider} weigerde de eigen inloggegevens van het CRM: het CRM is verkeerd ingesteld. U kunt dit niet zelf oplossen; neem contact op met de beheerder van uw CRM of met support.",
        ),
        "link.code_invalid" => (
            "The sign-in at {provider} expired or was already used. Click \"Link mailbox\" again.",
            "De aanmelding bij {provider} is verlopen of al gebruikt. Klik opnieuw op \"Mailbox koppelen\".",
        ),
        "provider.error" => (
            "{provider} refused the request ({code}). Try again; if it keeps happening, contact support.",
            "{provider} weigerde het verzoek ({code}). Probeer het opnieuw; blijft dit gebeuren, neem dan contact op met support.",
        ),
        "link.state_missing" => (
            "This sign-in could not be verified (its security code is missing) and was stopped to protect your account. Click \"Link mailbox\" again.",
            "Deze aanmelding kon niet worden gecontroleerd (de beveiligingscode ontbreekt) en is gestopt om uw account te beschermen. Klik opnieuw op \"Mailbox koppelen\".",
        ),
        "link.state_unknown" => (
            "This sign-in does not belong to a link attempt of this mailbox and was stopped to protect your account; it may have been forged. Click \"Link mailbox\" again.",
            "Deze aanmelding hoort niet bij een koppelpoging van deze mailbox en is gestopt om uw account te beschermen; mogelijk is ze vervalst. Klik opnieuw op \"Mailbox koppelen\".",
        ),
        "link.state_expired" => (
            "The link attempt expired: consent must be given within 10 minutes. Click \"Link mailbox\" again.",
            "De koppelpoging is verlopen: toestemming moet binnen 10 minuten gegeven worden. Klik opnieuw op \"Mailbox koppelen\".",
        ),
        "link.state_used" => (
            "This sign-in was already used. Click \"Link mailbox\" again to link once more.",
            "Deze aanmelding is al gebruikt. Klik opnieuw op \"Mailbox koppelen\" om nog eens te koppelen.",
        ),
        "link.state_other_user" => (
            "Another user started this sign-in. Click \"Link mailbox\" yourself to link your mailbox.",
            "Een andere gebruiker is deze aanmelding begonnen. Klik zelf op \"Mailbox koppelen\" om uw mailbox te koppelen.",
        ),
        "link.state_other_issuer" => (
            "This sign-in answer did not come from the provider you chose. Nothing was linked: click \"Link mailbox\" again.",
            "Dit antwoord op de aanmelding kwam niet van de gekozen provider. Er is niets gekoppeld: klik opnieuw op \"Mailbox koppelen\".",
        ),
        "provider.unavailable" => (
            "{provider} is temporarily unavailable (HTTP {status}). Try again in a few minutes.",
            "{provider} is tijdelijk niet beschikbaar (HTTP {status}). Probeer het over een paar minuten opnieuw.",
        ),
        "provider.unavailable_retry_after" => (
            "{provider} is temporarily unavailable (HTTP {status}). Try again in {seconds} seconds.",
            "{provider} is tijdelijk niet beschikbaar (HTTP {status}). Probeer het over {seconds} seconden opnieuw.",
        ),
        "policy.refused" => (
            "The CRM's security policy does not allow connecting to {destination}. Contact your CRM administrator.",
            "Het beveiligingsbeleid van het CRM staat geen verbinding toe met {destination}. Neem contact op met de beheerder van uw CRM.",
        ),
        "network.failed" => (
            "{provider} could not be reached ({detail}). Check the connection and try again.",
            "{provider} kon niet bereikt worden ({detail}). Controleer de verbinding en probeer het opnieuw.",
        ),
        "provider.malformed" => (
            "{provider} gave an answer the CRM could not read ({detail}). Try again; if it keeps happening, contact support.",
            "{provider} gaf een antwoord dat het CRM niet kon lezen ({detail}). Probeer het opnieuw; blijft dit gebeuren, neem dan contact op met support.",
        ),
        "link.address_unknown" => (
            "{provider} did not tell the CRM the account's e-mail address. Check that the account has one, then link again.",
            "{provider} gaf het CRM het e-mailadres van het account niet door. Controleer of het account er een heeft en koppel daarna opnieuw.",
        ),
        "link.different_account" => (
            "You signed in as {offered}, but this mailbox is linked to {linked}. Sign in as {linked}, or remove the mailbox first to link another account. Nothing was changed.",
            "U heeft ingelogd als {offered}, maar deze mailbox is gekoppeld aan {linked}. Log in als {linked}, of verwijder eerst de mailbox om een ander account te koppelen. Er is niets gewijzigd.",
        ),
        "link.other_provider" => (
            "This mailbox is linked through {provider}. Remove the mailbox first to link it through another service.",
            "Deze mailbox is gekoppeld via {provider}. Verwijder eerst de mailbox om via een andere dienst te koppelen.",
        ),
        "mailbox.not_linked" => (
            "No mailbox is linked. Click \"Link mailbox\" first.",
            "Er is geen mailbox gekoppeld. Klik eerst op \"Mailbox koppelen\".",
        ),
        "settings.read_only" => (
            "The mail settings were filled in by linking your mailbox and cannot be changed by hand. Remove the mailbox first to enter settings yourself.",
            "De mailinstellingen zijn ingevuld door het koppelen van uw mailbox en kunnen niet met de hand gewijzigd worden. Verwijder eerst de mailbox om zelf instellingen in te voeren.",
        ),
        "settings.invalid" => (
            "The setting \"{field}\" is not valid: {problem}.",
            "De instelling \"{field}\" is niet geldig: {problem}.",
        ),
        "reauth.needed" => (
            "{provider} no longer accepts the CRM's access to your mailbox ({code}): it may have been revoked, or the password changed. Click \"Link mailbox\" to link again; your folders and sync state are kept.",
            "{provider} accepteert de toegang van het CRM tot uw mailbox niet meer ({code}): die is mogelijk ingetrokken, of het wachtwoord is gewijzigd. Klik op \"Mailbox koppelen\" om opnieuw te koppelen; uw mappen en synchronisatiestatus blijven bewaard.",
        ),
        "storage.failed" => (
            "The CRM could not save the mailbox's settings. Nothing was changed; try again.",
            "Het CRM kon de instellingen van de mailbox niet opslaan. Er is niets gewijzigd; probeer het opnieuw.",
        ),
        "unlink.revocation_failed" => (
            "The mailbox was removed, but {provider} could not be asked to revoke the CRM's access ({detail}). You can remove that access yourself in your account's security settings.",
            "De mailbox is verwijderd, maar {provider} kon niet gevraagd worden de toegang van het CRM in te trekken ({detail}). U kunt die toegang zelf verwijderen in de beveiligingsinstellingen van uw account.",
        ),
        "settings.changed" => (
            "The mail settings changed after your mailbox was linked (for example {provider}'s mail server). Click \"Link mailbox\" to go through the steps again; your folder choices are kept. If this keeps happening, contact support.",
            "De mailinstellingen zijn gewijzigd nadat uw mailbox werd gekoppeld (bijvoorbeeld de mailserver van {provider}). Klik op \"Mailbox koppelen\" om de stappen opnieuw te doorlopen; uw mapkeuzes blijven bewaard. Blijft dit gebeuren, neem dan contact op met support.",
        ),
        "imap.unreachable" => (
            "The mail server could not be reached ({detail}). Try again later; if it keeps happening, contact support.",
            "De mailserver kon niet bereikt worden ({detail}). Probeer het later opnieuw; blijft dit gebeuren, neem dan contact op met support.",
        ),
        "imap.tls_failed" => (
            "The mail server's security certificate could not be verified ({detail}), so no connection was made. Contact support.",
            "Het beveiligingscertificaat van de mailserver kon niet gecontroleerd worden ({detail}), dus er is geen verbinding gemaakt. Neem contact op met support.",
        ),
        "imap.protocol" => (
            "The mail server gave an answer the CRM does not understand ({detail}). Try again; if it keeps happening, contact support.",
            "De mailserver gaf een antwoord dat het CRM niet begrijpt ({detail}). Probeer het opnieuw; blijft dit gebeuren, neem dan contact op met support.",
        ),
        "imap.throttled" => (
            "The mail server asks the CRM to slow down ({detail}), often because other mail apps hold many connections. Syncing resumes by itself in a while.",
            "De mailserver vraagt het CRM om het rustiger aan te doen ({detail}), vaak omdat andere mailapps veel verbindingen openhouden. Het synchroniseren gaat vanzelf verder over een tijdje.",
        ),
        "sync.nothing_mapped" => (
            "No CRM folder is linked to a folder of your mailbox yet. Choose them under \"Edit folders\".",
            "Er is nog geen CRM-map aan een map van je mailbox gekoppeld. Kies ze onder \"Mappen bewerken\".",
        ),
        "sync.inbox_failed" => (
            "The CRM could not store your mail just now ({detail}). Nothing was lost: the next sync picks up from here.",
            "Het CRM kon je mail zojuist niet opslaan ({detail}). Er ging niets verloren: de volgende synchronisatie gaat hier verder.",
        ),
        "sync.folder_missing" => (
            "The folder \"{folder}\" no longer exists in your mailbox and was skipped. Choose another one under \"Edit folders\".",
            "De map \"{folder}\" bestaat niet meer in je mailbox en is overgeslagen. Kies een andere onder \"Mappen bewerken\".",
        ),
        "mapping.missing" => (
            "The folder \"{remote}\" chosen for the CRM's {crm_folder} does not exist in the mailbox (any more). Choose another folder with \"Edit folders\".",
            "De map \"{remote}\" die gekozen is voor {crm_folder} in het CRM bestaat niet (meer) in de mailbox. Kies een andere map via \"Mappen bewerken\".",
        ),
        "mapping.not_selectable" => (
            "The folder \"{remote}\" cannot hold messages. Choose another folder for the CRM's {crm_folder}.",
            "De map \"{remote}\" kan geen berichten bevatten. Kies een andere map voor {crm_folder} in het CRM.",
        ),
        "mapping.used_twice" => (
            "The folder \"{remote}\" is chosen for more than one CRM folder (also for {crm_folder}). Choose a different folder for each.",
            "De map \"{remote}\" is gekozen voor meer dan een map in het CRM (ook voor {crm_folder}). Kies voor elke map een andere.",
        ),
        _ => return None,
    })
}
