"""The ESP webhooks providers really send (Amazon SES through SNS, Mailgun, Postmark,
SendGrid), one module each over `base`: each checks its provider's signature and turns
its JSON into the intake's `Classified` events."""
