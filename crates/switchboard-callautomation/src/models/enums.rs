//! Extensible string enums (`x-ms-enum.modelAsString: true` in the spec).

/// Defines a string enum with known variants plus `Other(String)`. Parsing is
/// case-insensitive (as the service's own enums are); writing uses the spec's spelling.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of the client does not know.
            Other(String),
        }

        impl $name {
            /// Every known value, in spec order.
            pub const KNOWN: &'static [&'static str] = &[$($wire),+];

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(s) => s,
                }
            }

            /// Parses a value; unknown values become `Other`.
            pub fn parse(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case($wire) { return Self::$variant; })+
                Self::Other(s.to_owned())
            }

            /// Parses a known value only (for command-line input).
            pub fn parse_known(s: &str) -> Option<Self> {
                match Self::parse(s) {
                    Self::Other(_) => None,
                    v => Some(v),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok(Self::parse(&s))
            }
        }
    };
}

string_enum!(
    /// State of a call connection.
    CallConnectionState {
        /// Unknown.
        Unknown = "unknown",
        /// Connecting.
        Connecting = "connecting",
        /// Connected.
        Connected = "connected",
        /// Being transferred.
        Transferring = "transferring",
        /// Transfer accepted.
        TransferAccepted = "transferAccepted",
        /// Disconnecting.
        Disconnecting = "disconnecting",
        /// Disconnected.
        Disconnected = "disconnected",
    }
);

string_enum!(
    /// Why an incoming call is rejected.
    CallRejectReason {
        /// No reason given.
        None = "none",
        /// Busy.
        Busy = "busy",
        /// Forbidden.
        Forbidden = "forbidden",
    }
);

string_enum!(
    /// Kind of a play source.
    PlaySourceType {
        /// An audio file by URI.
        File = "file",
        /// Text to speech.
        Text = "text",
        /// SSML to speech.
        Ssml = "ssml",
    }
);

string_enum!(
    /// Voice gender for text to speech.
    VoiceKind {
        /// Male.
        Male = "male",
        /// Female.
        Female = "female",
    }
);

string_enum!(
    /// What a recognize operation listens for.
    RecognizeInputType {
        /// Keypad tones.
        Dtmf = "dtmf",
        /// Speech.
        Speech = "speech",
        /// Speech or keypad tones.
        SpeechOrDtmf = "speechOrDtmf",
        /// One of a list of choices.
        Choices = "choices",
    }
);

string_enum!(
    /// A DTMF tone.
    Tone {
        /// 0
        Zero = "zero",
        /// 1
        One = "one",
        /// 2
        Two = "two",
        /// 3
        Three = "three",
        /// 4
        Four = "four",
        /// 5
        Five = "five",
        /// 6
        Six = "six",
        /// 7
        Seven = "seven",
        /// 8
        Eight = "eight",
        /// 9
        Nine = "nine",
        /// A
        A = "a",
        /// B
        B = "b",
        /// C
        C = "c",
        /// D
        D = "d",
        /// #
        Pound = "pound",
        /// *
        Asterisk = "asterisk",
    }
);

impl Tone {
    /// The tone for a keypad character (`0`-`9`, `A`-`D`, `#`, `*`).
    pub fn from_key(c: char) -> Option<Self> {
        Some(match c.to_ascii_lowercase() {
            '0' => Self::Zero,
            '1' => Self::One,
            '2' => Self::Two,
            '3' => Self::Three,
            '4' => Self::Four,
            '5' => Self::Five,
            '6' => Self::Six,
            '7' => Self::Seven,
            '8' => Self::Eight,
            '9' => Self::Nine,
            'a' => Self::A,
            'b' => Self::B,
            'c' => Self::C,
            'd' => Self::D,
            '#' => Self::Pound,
            '*' => Self::Asterisk,
            _ => return None,
        })
    }
}

string_enum!(
    /// Recording content.
    RecordingContentType {
        /// Audio only.
        Audio = "audio",
        /// Audio and video.
        AudioVideo = "audioVideo",
    }
);

string_enum!(
    /// Recording channels.
    RecordingChannelType {
        /// All participants in one channel.
        Mixed = "mixed",
        /// One channel per participant.
        Unmixed = "unmixed",
    }
);

string_enum!(
    /// Recording file format.
    RecordingFormatType {
        /// WAV.
        Wav = "wav",
        /// MP3.
        Mp3 = "mp3",
        /// MP4.
        Mp4 = "mp4",
    }
);

string_enum!(
    /// Who records.
    RecordingKind {
        /// ACS.
        AzureCommunicationServices = "azureCommunicationServices",
        /// Teams.
        Teams = "teams",
        /// Teams compliance recording.
        TeamsCompliance = "teamsCompliance",
    }
);

string_enum!(
    /// Recording state.
    RecordingState {
        /// Recording.
        Active = "active",
        /// Paused or not started.
        Inactive = "inactive",
    }
);

string_enum!(
    /// Where recordings are stored.
    RecordingStorageKind {
        /// ACS-managed storage.
        AzureCommunicationServices = "azureCommunicationServices",
        /// Your own blob container.
        AzureBlobStorage = "azureBlobStorage",
    }
);

string_enum!(
    /// How a call locator addresses a call.
    CallLocatorKind {
        /// A group call id.
        GroupCallLocator = "groupCallLocator",
        /// A server call id.
        ServerCallLocator = "serverCallLocator",
        /// A room id.
        RoomCallLocator = "roomCallLocator",
    }
);

string_enum!(
    /// Audio channels for media streaming.
    MediaStreamingAudioChannelType {
        /// Mixed.
        Mixed = "mixed",
        /// Unmixed.
        Unmixed = "unmixed",
    }
);

string_enum!(
    /// Media streaming content.
    MediaStreamingContentType {
        /// Audio.
        Audio = "audio",
    }
);

string_enum!(
    /// Audio format for media streaming.
    AudioFormat {
        /// 16 kHz mono PCM.
        Pcm16KMono = "pcm16KMono",
        /// 24 kHz mono PCM.
        Pcm24KMono = "pcm24KMono",
    }
);

string_enum!(
    /// State of a media streaming or transcription subscription.
    SubscriptionState {
        /// Disabled.
        Disabled = "disabled",
        /// Inactive.
        Inactive = "inactive",
        /// Active.
        Active = "active",
    }
);

string_enum!(
    /// Transcription result types.
    TranscriptionResultType {
        /// Final results.
        Final = "final",
        /// Intermediate results.
        Intermediate = "intermediate",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_unknown_and_case() {
        assert_eq!(
            serde_json::from_str::<CallConnectionState>("\"transferAccepted\"").unwrap(),
            CallConnectionState::TransferAccepted
        );
        assert_eq!(
            serde_json::from_str::<CallConnectionState>("\"Connected\"").unwrap(),
            CallConnectionState::Connected
        );
        let other = serde_json::from_str::<CallConnectionState>("\"parked\"").unwrap();
        assert_eq!(other, CallConnectionState::Other("parked".into()));
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"parked\"");
        assert_eq!(
            serde_json::to_string(&RecordingContentType::AudioVideo).unwrap(),
            "\"audioVideo\""
        );
        assert_eq!(
            RecognizeInputType::parse_known("SPEECHORDTMF"),
            Some(RecognizeInputType::SpeechOrDtmf)
        );
        assert_eq!(RecordingFormatType::parse_known("flac"), None);
        assert_eq!(Tone::KNOWN.len(), 16);
    }

    #[test]
    fn keypad_tones() {
        let tones: Vec<Tone> = "0123456789abcd#*"
            .chars()
            .map(|c| Tone::from_key(c).unwrap())
            .collect();
        let wire: Vec<&str> = tones.iter().map(Tone::as_str).collect();
        assert_eq!(wire, Tone::KNOWN);
        assert_eq!(Tone::from_key('x'), None);
    }
}
