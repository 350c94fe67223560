package feedgen

import "strings"

// Name parts. A performer's name is a first name and a last name picked by a
// bijection of its slot, so names (and the links made from them) are unique.

var firstNames = []string{
	"Aaliyah", "Abbey", "Abby", "Abigail", "Adriana", "Agatha", "Agnes", "Aiden", "Aika", "Aimee",
	"Alana", "Alanah", "Alaura", "Alec", "Alektra", "Alessia", "Aletta", "Alexa", "Alexandra", "Alexia",
	"Alicia", "Alina", "Alisha", "Allison", "Alyssa", "Amber", "Amelia", "Amy", "Ana", "Andrea",
	"Angel", "Angela", "Anika", "Anna", "April", "Aria", "Ariel", "Asa", "Ashley", "Aubrey",
	"Audrey", "Ava", "Bailey", "Bella", "Bianca", "Blake", "Bonnie", "Brandi", "Brenda", "Brooke",
	"Bruce", "Cadence", "Callie", "Camila", "Candice", "Cara", "Carmen", "Casey", "Cassidy", "Celeste",
	"Chanel", "Charlotte", "Chloe", "Christie", "Claire", "Cleo", "Cody", "Cora", "Crystal", "Daisy",
	"Dana", "Daniela", "Dante", "Darla", "Delia", "Destiny", "Diana", "Dylan", "Eden", "Elena",
	"Eliza", "Ella", "Emily", "Emma", "Erica", "Esme", "Eva", "Faye", "Felix", "Fiona",
	"Gemma", "Gina", "Giselle", "Hailey", "Hannah", "Harley", "Hazel", "Holly", "Ingrid", "Iris",
	"Isabel", "Ivy", "Jade", "Jasmine", "Jenna", "Jessa", "Jody", "Julia", "Kali", "Kara",
	"Katie", "Kayla", "Kendra", "Kira", "Lana", "Layla", "Lena", "Lexi", "Lila", "Lily",
	"Lola", "Lucia", "Luna", "Lydia", "Mackenzie", "Maya", "Melody", "Mia", "Mila", "Misty",
	"Nadia", "Naomi", "Natalia", "Nikki", "Nina", "Nora", "Olivia", "Paige", "Penny", "Piper",
	"Quinn", "Rachel", "Raven", "Riley", "Rosa", "Ruby", "Sabrina", "Sadie", "Sasha", "Scarlett",
	"Selena", "Sienna", "Sofia", "Stella", "Summer", "Sunny", "Tara", "Tessa", "Tiffany", "Valentina",
	"Vera", "Victoria", "Violet", "Wendy", "Willow", "Yasmin", "Yuki", "Zara", "Zoe", "Marcus",
	// Non-ASCII and punctuated names: the real feed's names and aliases have both.
	"Zoë", "Renée", "Agnès", "Bárbara", "Jürgen", "Łucja", "Noémie", "Søren", "Dr. Kay", "J.",
}

var lastStems = []string{
	"Ash", "Black", "Bright", "Brook", "Cald", "Carr", "Castle", "Clay", "Cole", "Crane",
	"Dale", "Dean", "Dray", "Fair", "Fox", "Frost", "Gold", "Grant", "Gray", "Hale",
	"Hart", "Hollow", "Kent", "Knight", "Lake", "Lane", "Lock", "Marsh", "Mill", "Moor",
	"North", "Pike", "Rain", "Red", "Rose", "Shaw", "Silver", "Stan", "Stone", "Thorn",
}

var lastEndings = []string{
	"", "wood", "ford", "well", "ley", "ton", "field", "more", "by", "wick",
	"ridge", "son", "water", "hill", "dale",
}

// lastNames is every stem+ending, lower-case duplicates removed.
var lastNames = func() []string {
	var out []string
	seen := map[string]bool{}
	for _, ending := range lastEndings {
		for _, stem := range lastStems {
			name := stem + ending
			if key := strings.ToLower(name); !seen[key] {
				seen[key] = true
				out = append(out, name)
			}
		}
	}
	return append(out, "D'Amour", "O'Neil", "St. Claire", "Nevaeh", "Miura", "Zalontai", "Meirelles", "Kováč")
}()

// Values of the multi-valued and coded attributes, with their measured
// shares (per mille) in the real feed.
var (
	hairColors = []weighted{
		{"Brunette", 440}, {"Blonde", 360}, {"Black", 90}, {"Red", 20},
		{"Blonde|Red", 30}, {"Red|Brunette", 20}, {"Brunette|Black", 15}, {"Blonde|Brunette", 10},
		{"Blonde|Red|Brunette|Black", 8}, {"Red|Brunette|Black", 7},
	}
	ethnicities = []weighted{
		{"White", 730}, {"Latin", 140}, {"Black", 70}, {"Asian", 40}, {"Middle Eastern", 8},
		{"Indian", 5}, {"White|Asian", 5}, {"Latin|White", 2},
	}
	breastTypes = []weighted{
		{"C", 250}, {"B", 220}, {"D", 200}, {"A", 70}, {"DD", 70}, {"E", 40}, {"DDD", 30},
		{"F", 30}, {"FF", 20}, {"G", 20}, {"GG", 15}, {"AA", 10}, {"H", 10}, {"J", 5}, {"O", 2},
	}
	// Aliases in other scripts, as some real performers have.
	foreignAliases = []string{"Аня", "さくら", "Ксения", "미나", "Лиза", "ゆい", "Ζωή", "שירה"}
	// Notes glued to an alias, as in "Alana(als)".
	gluedNotes = []string{"(als)", "(aka)", "(old)", "(twin)", "(duo)"}
)

type weighted struct {
	value    string
	perMille int
}

// pick returns the value whose cumulative share holds roll (0..999); what
// the shares leave goes to the first, most common value.
func pick(values []weighted, roll int) string {
	for _, v := range values {
		if roll < v.perMille {
			return v.value
		}
		roll -= v.perMille
	}
	return values[0].value
}
