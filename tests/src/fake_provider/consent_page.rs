//! The fake provider's consent page, as a browser sees it: pick one of the known accounts, then
//! "Allow" or "Cancel". The answer posts back with the original authorization request.

use super::world::{Account, Flavour};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(flavour: Flavour, accounts: &[Account], query: &[(String, String)]) -> String {
    let name = match flavour {
        Flavour::Google => "Google",
        Flavour::Microsoft => "Microsoft",
    };
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let choices: String = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                "<p><input type=\"radio\" name=\"account\" id=\"account-{i}\" value=\"{email}\"{checked}> \
                 <label for=\"account-{i}\">{email}</label></p>",
                email = escape(&a.email),
                checked = if i == 0 { " checked" } else { "" },
            )
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in - {name}</title></head>\
         <body><h1>{name}: choose an account</h1>\
         <form method=\"post\" action=\"/authorize/decide\">\
         <input type=\"hidden\" name=\"query\" value=\"{query}\">{choices}\
         <p>The CRM wants to read and change your mail.</p>\
         <button id=\"allow\" name=\"choice\" value=\"allow\">Allow</button> \
         <button id=\"cancel\" name=\"choice\" value=\"cancel\">Cancel</button>\
         </form></body></html>",
        query = escape(&query),
    )
}
