"""The built-in gazetteer: real cities with their real coordinates, and invented places.

    python -m tasks.data.gazetteer            # list the cities and the invented place names

The generator's geocoding tool answers from this table (as Open-Meteo's geocoding
API would), so every coordinate the data shows belongs to the named city.
Coordinates are the city centres to two decimals; elevations (metres) matter to
the weather model only where a city sits high, so most are rounded.
`UNKNOWN_PLACES` are invented or fictional names that no geocoder finds: the
"unknown place" error conversations ask for them.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import unicodedata
from pathlib import Path
from typing import NamedTuple

from tasks import ui


class City(NamedTuple):
    name: str
    country: str
    country_code: str
    latitude: float
    longitude: float
    elevation: int
    admin1: str = ""  # state or region, as Open-Meteo's `admin1`; set where a name is shared
    population: int = 0  # from the world table where the geocoder found the place there


# (name, country, ISO 3166 code, latitude, longitude, elevation in metres)
_ROWS = [
    # Europe
    ("London", "United Kingdom", "GB", 51.51, -0.13, 11),
    ("Manchester", "United Kingdom", "GB", 53.48, -2.24, 38),
    ("Edinburgh", "United Kingdom", "GB", 55.95, -3.19, 47),
    ("Glasgow", "United Kingdom", "GB", 55.86, -4.25, 20),
    ("Birmingham", "United Kingdom", "GB", 52.49, -1.89, 140),
    ("Liverpool", "United Kingdom", "GB", 53.41, -2.98, 20),
    ("Belfast", "United Kingdom", "GB", 54.60, -5.93, 10),
    ("Cardiff", "United Kingdom", "GB", 51.48, -3.18, 10),
    ("Dublin", "Ireland", "IE", 53.35, -6.26, 20),
    ("Cork", "Ireland", "IE", 51.90, -8.47, 10),
    ("Paris", "France", "FR", 48.86, 2.35, 42),
    ("Lyon", "France", "FR", 45.76, 4.84, 170),
    ("Marseille", "France", "FR", 43.30, 5.37, 12),
    ("Bordeaux", "France", "FR", 44.84, -0.58, 20),
    ("Nice", "France", "FR", 43.70, 7.27, 10),
    ("Toulouse", "France", "FR", 43.60, 1.44, 150),
    ("Strasbourg", "France", "FR", 48.57, 7.75, 140),
    ("Berlin", "Germany", "DE", 52.52, 13.40, 34),
    ("Hamburg", "Germany", "DE", 53.55, 9.99, 6),
    ("Munich", "Germany", "DE", 48.14, 11.58, 520),
    ("Cologne", "Germany", "DE", 50.94, 6.96, 50),
    ("Frankfurt", "Germany", "DE", 50.11, 8.68, 110),
    ("Stuttgart", "Germany", "DE", 48.78, 9.18, 250),
    ("Dresden", "Germany", "DE", 51.05, 13.74, 110),
    ("Leipzig", "Germany", "DE", 51.34, 12.37, 110),
    ("Amsterdam", "Netherlands", "NL", 52.37, 4.90, 0),
    ("Rotterdam", "Netherlands", "NL", 51.92, 4.48, 0),
    ("Brussels", "Belgium", "BE", 50.85, 4.35, 50),
    ("Antwerp", "Belgium", "BE", 51.22, 4.40, 10),
    ("Luxembourg", "Luxembourg", "LU", 49.61, 6.13, 300),
    ("Zurich", "Switzerland", "CH", 47.38, 8.54, 410),
    ("Geneva", "Switzerland", "CH", 46.20, 6.14, 375),
    ("Bern", "Switzerland", "CH", 46.95, 7.45, 540),
    ("Vienna", "Austria", "AT", 48.21, 16.37, 190),
    ("Salzburg", "Austria", "AT", 47.81, 13.04, 424),
    ("Innsbruck", "Austria", "AT", 47.27, 11.40, 574),
    ("Madrid", "Spain", "ES", 40.42, -3.70, 657),
    ("Barcelona", "Spain", "ES", 41.39, 2.17, 12),
    ("Valencia", "Spain", "ES", 39.47, -0.38, 15),
    ("Seville", "Spain", "ES", 37.39, -5.98, 7),
    ("Bilbao", "Spain", "ES", 43.26, -2.93, 19),
    ("Malaga", "Spain", "ES", 36.72, -4.42, 11),
    ("Palma", "Spain", "ES", 39.57, 2.65, 13),
    ("Lisbon", "Portugal", "PT", 38.72, -9.14, 50),
    ("Porto", "Portugal", "PT", 41.15, -8.61, 100),
    ("Rome", "Italy", "IT", 41.90, 12.50, 21),
    ("Milan", "Italy", "IT", 45.46, 9.19, 120),
    ("Naples", "Italy", "IT", 40.85, 14.27, 17),
    ("Turin", "Italy", "IT", 45.07, 7.69, 239),
    ("Florence", "Italy", "IT", 43.77, 11.26, 50),
    ("Venice", "Italy", "IT", 45.44, 12.32, 1),
    ("Bologna", "Italy", "IT", 44.49, 11.34, 54),
    ("Palermo", "Italy", "IT", 38.12, 13.36, 14),
    ("Athens", "Greece", "GR", 37.98, 23.73, 70),
    ("Thessaloniki", "Greece", "GR", 40.64, 22.94, 20),
    ("Valletta", "Malta", "MT", 35.90, 14.51, 56),
    ("Copenhagen", "Denmark", "DK", 55.68, 12.57, 14),
    ("Aarhus", "Denmark", "DK", 56.16, 10.20, 20),
    ("Stockholm", "Sweden", "SE", 59.33, 18.07, 28),
    ("Gothenburg", "Sweden", "SE", 57.71, 11.97, 12),
    ("Oslo", "Norway", "NO", 59.91, 10.75, 23),
    ("Bergen", "Norway", "NO", 60.39, 5.32, 12),
    ("Tromso", "Norway", "NO", 69.65, 18.96, 10),
    ("Helsinki", "Finland", "FI", 60.17, 24.94, 17),
    ("Reykjavik", "Iceland", "IS", 64.15, -21.94, 20),
    ("Tallinn", "Estonia", "EE", 59.44, 24.75, 9),
    ("Riga", "Latvia", "LV", 56.95, 24.11, 7),
    ("Vilnius", "Lithuania", "LT", 54.69, 25.28, 112),
    ("Warsaw", "Poland", "PL", 52.23, 21.01, 100),
    ("Krakow", "Poland", "PL", 50.06, 19.94, 219),
    ("Gdansk", "Poland", "PL", 54.35, 18.65, 10),
    ("Prague", "Czechia", "CZ", 50.08, 14.44, 235),
    ("Brno", "Czechia", "CZ", 49.20, 16.61, 237),
    ("Bratislava", "Slovakia", "SK", 48.15, 17.11, 140),
    ("Budapest", "Hungary", "HU", 47.50, 19.04, 102),
    ("Ljubljana", "Slovenia", "SI", 46.06, 14.51, 295),
    ("Zagreb", "Croatia", "HR", 45.81, 15.98, 158),
    ("Split", "Croatia", "HR", 43.51, 16.44, 10),
    ("Belgrade", "Serbia", "RS", 44.79, 20.45, 117),
    ("Sarajevo", "Bosnia and Herzegovina", "BA", 43.86, 18.41, 518),
    ("Sofia", "Bulgaria", "BG", 42.70, 23.32, 550),
    ("Bucharest", "Romania", "RO", 44.43, 26.10, 70),
    ("Cluj-Napoca", "Romania", "RO", 46.77, 23.59, 360),
    ("Chisinau", "Moldova", "MD", 47.01, 28.86, 85),
    ("Kyiv", "Ukraine", "UA", 50.45, 30.52, 179),
    ("Lviv", "Ukraine", "UA", 49.84, 24.03, 296),
    ("Odesa", "Ukraine", "UA", 46.48, 30.73, 40),
    ("Minsk", "Belarus", "BY", 53.90, 27.57, 220),
    ("Moscow", "Russia", "RU", 55.76, 37.62, 156),
    ("Saint Petersburg", "Russia", "RU", 59.93, 30.36, 3),
    ("Novosibirsk", "Russia", "RU", 55.01, 82.93, 150),
    ("Yekaterinburg", "Russia", "RU", 56.84, 60.61, 237),
    ("Vladivostok", "Russia", "RU", 43.12, 131.89, 50),
    ("Murmansk", "Russia", "RU", 68.97, 33.08, 50),
    ("Istanbul", "Turkey", "TR", 41.01, 28.98, 39),
    ("Ankara", "Turkey", "TR", 39.93, 32.86, 938),
    ("Izmir", "Turkey", "TR", 38.42, 27.14, 25),
    ("Tbilisi", "Georgia", "GE", 41.72, 44.79, 490),
    ("Yerevan", "Armenia", "AM", 40.18, 44.51, 990),
    ("Baku", "Azerbaijan", "AZ", 40.41, 49.87, -28),
    ("Nicosia", "Cyprus", "CY", 35.17, 33.36, 220),
    # North America
    ("New York", "United States", "US", 40.71, -74.01, 10),
    ("Los Angeles", "United States", "US", 34.05, -118.24, 89),
    ("Chicago", "United States", "US", 41.88, -87.63, 181),
    ("Houston", "United States", "US", 29.76, -95.37, 15),
    ("Phoenix", "United States", "US", 33.45, -112.07, 331),
    ("Philadelphia", "United States", "US", 39.95, -75.17, 12),
    ("San Antonio", "United States", "US", 29.42, -98.49, 198),
    ("San Diego", "United States", "US", 32.72, -117.16, 19),
    ("Dallas", "United States", "US", 32.78, -96.80, 131),
    ("Austin", "United States", "US", 30.27, -97.74, 149),
    ("San Francisco", "United States", "US", 37.77, -122.42, 16),
    ("Seattle", "United States", "US", 47.61, -122.33, 53),
    ("Portland", "United States", "US", 45.52, -122.68, 15),
    ("Denver", "United States", "US", 39.74, -104.99, 1609),
    ("Salt Lake City", "United States", "US", 40.76, -111.89, 1288),
    ("Las Vegas", "United States", "US", 36.17, -115.14, 610),
    ("Albuquerque", "United States", "US", 35.08, -106.65, 1619),
    ("Boston", "United States", "US", 42.36, -71.06, 43),
    ("Washington", "United States", "US", 38.91, -77.04, 22),
    ("Baltimore", "United States", "US", 39.29, -76.61, 10),
    ("Atlanta", "United States", "US", 33.75, -84.39, 320),
    ("Miami", "United States", "US", 25.76, -80.19, 2),
    ("Orlando", "United States", "US", 28.54, -81.38, 25),
    ("Tampa", "United States", "US", 27.95, -82.46, 15),
    ("New Orleans", "United States", "US", 29.95, -90.07, 1),
    ("Nashville", "United States", "US", 36.16, -86.78, 169),
    ("Memphis", "United States", "US", 35.15, -90.05, 103),
    ("Detroit", "United States", "US", 42.33, -83.05, 183),
    ("Minneapolis", "United States", "US", 44.98, -93.27, 264),
    ("St. Louis", "United States", "US", 38.63, -90.20, 142),
    ("Kansas City", "United States", "US", 39.10, -94.58, 277),
    ("Pittsburgh", "United States", "US", 40.44, -80.00, 373),
    ("Cleveland", "United States", "US", 41.50, -81.69, 199),
    ("Charlotte", "United States", "US", 35.23, -80.84, 229),
    ("Raleigh", "United States", "US", 35.78, -78.64, 96),
    ("Anchorage", "United States", "US", 61.22, -149.90, 31),
    ("Fairbanks", "United States", "US", 64.84, -147.72, 136),
    ("Honolulu", "United States", "US", 21.31, -157.86, 6),
    ("Buffalo", "United States", "US", 42.89, -78.88, 183),
    ("Toronto", "Canada", "CA", 43.65, -79.38, 76),
    ("Montreal", "Canada", "CA", 45.50, -73.57, 36),
    ("Vancouver", "Canada", "CA", 49.28, -123.12, 70),
    ("Calgary", "Canada", "CA", 51.05, -114.07, 1045),
    ("Edmonton", "Canada", "CA", 53.55, -113.49, 645),
    ("Ottawa", "Canada", "CA", 45.42, -75.70, 70),
    ("Winnipeg", "Canada", "CA", 49.90, -97.14, 239),
    ("Quebec City", "Canada", "CA", 46.81, -71.21, 98),
    ("Halifax", "Canada", "CA", 44.65, -63.58, 36),
    ("Whitehorse", "Canada", "CA", 60.72, -135.06, 670),
    ("Mexico City", "Mexico", "MX", 19.43, -99.13, 2240),
    ("Guadalajara", "Mexico", "MX", 20.67, -103.35, 1566),
    ("Monterrey", "Mexico", "MX", 25.69, -100.32, 540),
    ("Cancun", "Mexico", "MX", 21.16, -86.85, 10),
    ("Tijuana", "Mexico", "MX", 32.51, -117.04, 20),
    ("Oaxaca", "Mexico", "MX", 17.07, -96.73, 1555),
    ("Guatemala City", "Guatemala", "GT", 14.63, -90.51, 1500),
    ("San Salvador", "El Salvador", "SV", 13.69, -89.22, 659),
    ("Tegucigalpa", "Honduras", "HN", 14.07, -87.19, 990),
    ("Managua", "Nicaragua", "NI", 12.11, -86.24, 83),
    ("San Jose", "Costa Rica", "CR", 9.93, -84.08, 1170),
    ("Panama City", "Panama", "PA", 8.98, -79.52, 10),
    ("Havana", "Cuba", "CU", 23.11, -82.37, 59),
    ("Kingston", "Jamaica", "JM", 17.97, -76.79, 10),
    ("Santo Domingo", "Dominican Republic", "DO", 18.49, -69.93, 14),
    ("San Juan", "Puerto Rico", "PR", 18.47, -66.11, 8),
    ("Nassau", "Bahamas", "BS", 25.05, -77.35, 5),
    ("Port of Spain", "Trinidad and Tobago", "TT", 10.65, -61.51, 10),
    # South America
    ("Bogota", "Colombia", "CO", 4.71, -74.07, 2640),
    ("Medellin", "Colombia", "CO", 6.24, -75.58, 1495),
    ("Cartagena", "Colombia", "CO", 10.39, -75.48, 2),
    ("Caracas", "Venezuela", "VE", 10.48, -66.90, 900),
    ("Quito", "Ecuador", "EC", -0.18, -78.47, 2850),
    ("Guayaquil", "Ecuador", "EC", -2.17, -79.92, 4),
    ("Lima", "Peru", "PE", -12.05, -77.04, 154),
    ("Cusco", "Peru", "PE", -13.53, -71.97, 3399),
    ("La Paz", "Bolivia", "BO", -16.50, -68.15, 3640),
    ("Santa Cruz de la Sierra", "Bolivia", "BO", -17.78, -63.18, 416),
    ("Santiago", "Chile", "CL", -33.45, -70.67, 570),
    ("Valparaiso", "Chile", "CL", -33.05, -71.62, 10),
    ("Punta Arenas", "Chile", "CL", -53.16, -70.91, 34),
    ("Buenos Aires", "Argentina", "AR", -34.60, -58.38, 25),
    ("Cordoba", "Argentina", "AR", -31.42, -64.18, 390),
    ("Mendoza", "Argentina", "AR", -32.89, -68.85, 750),
    ("Ushuaia", "Argentina", "AR", -54.80, -68.30, 23),
    ("Montevideo", "Uruguay", "UY", -34.90, -56.16, 43),
    ("Asuncion", "Paraguay", "PY", -25.26, -57.58, 43),
    ("Sao Paulo", "Brazil", "BR", -23.55, -46.63, 760),
    ("Rio de Janeiro", "Brazil", "BR", -22.91, -43.17, 5),
    ("Brasilia", "Brazil", "BR", -15.79, -47.88, 1172),
    ("Salvador", "Brazil", "BR", -12.97, -38.50, 8),
    ("Manaus", "Brazil", "BR", -3.12, -60.02, 92),
    ("Recife", "Brazil", "BR", -8.05, -34.88, 4),
    ("Porto Alegre", "Brazil", "BR", -30.03, -51.23, 10),
    ("Fortaleza", "Brazil", "BR", -3.73, -38.52, 21),
    ("Belem", "Brazil", "BR", -1.46, -48.50, 10),
    ("Curitiba", "Brazil", "BR", -25.43, -49.27, 934),
    ("Georgetown", "Guyana", "GY", 6.80, -58.16, 2),
    ("Paramaribo", "Suriname", "SR", 5.85, -55.20, 3),
    # Africa
    ("Cairo", "Egypt", "EG", 30.04, 31.24, 23),
    ("Alexandria", "Egypt", "EG", 31.20, 29.92, 5),
    ("Luxor", "Egypt", "EG", 25.69, 32.64, 89),
    ("Casablanca", "Morocco", "MA", 33.57, -7.59, 27),
    ("Marrakesh", "Morocco", "MA", 31.63, -8.01, 466),
    ("Rabat", "Morocco", "MA", 34.02, -6.84, 75),
    ("Tunis", "Tunisia", "TN", 36.81, 10.18, 4),
    ("Algiers", "Algeria", "DZ", 36.75, 3.06, 50),
    ("Tripoli", "Libya", "LY", 32.89, 13.19, 81),
    ("Khartoum", "Sudan", "SD", 15.50, 32.56, 381),
    ("Addis Ababa", "Ethiopia", "ET", 9.03, 38.74, 2355),
    ("Asmara", "Eritrea", "ER", 15.32, 38.93, 2325),
    ("Nairobi", "Kenya", "KE", -1.29, 36.82, 1795),
    ("Mombasa", "Kenya", "KE", -4.04, 39.67, 50),
    ("Kampala", "Uganda", "UG", 0.35, 32.58, 1190),
    ("Kigali", "Rwanda", "RW", -1.95, 30.06, 1567),
    ("Dar es Salaam", "Tanzania", "TZ", -6.79, 39.21, 14),
    ("Zanzibar City", "Tanzania", "TZ", -6.17, 39.20, 10),
    ("Lagos", "Nigeria", "NG", 6.52, 3.38, 41),
    ("Abuja", "Nigeria", "NG", 9.08, 7.40, 476),
    ("Accra", "Ghana", "GH", 5.60, -0.19, 61),
    ("Dakar", "Senegal", "SN", 14.72, -17.47, 22),
    ("Abidjan", "Ivory Coast", "CI", 5.36, -4.01, 18),
    ("Bamako", "Mali", "ML", 12.64, -8.00, 350),
    ("Niamey", "Niger", "NE", 13.51, 2.13, 207),
    ("Kinshasa", "DR Congo", "CD", -4.44, 15.27, 240),
    ("Luanda", "Angola", "AO", -8.84, 13.23, 74),
    ("Lusaka", "Zambia", "ZM", -15.39, 28.32, 1279),
    ("Harare", "Zimbabwe", "ZW", -17.83, 31.05, 1490),
    ("Maputo", "Mozambique", "MZ", -25.97, 32.57, 47),
    ("Windhoek", "Namibia", "NA", -22.56, 17.08, 1655),
    ("Gaborone", "Botswana", "BW", -24.63, 25.92, 1010),
    ("Johannesburg", "South Africa", "ZA", -26.20, 28.05, 1753),
    ("Cape Town", "South Africa", "ZA", -33.92, 18.42, 25),
    ("Durban", "South Africa", "ZA", -29.86, 31.02, 8),
    ("Pretoria", "South Africa", "ZA", -25.75, 28.19, 1339),
    ("Antananarivo", "Madagascar", "MG", -18.88, 47.51, 1280),
    ("Port Louis", "Mauritius", "MU", -20.16, 57.50, 10),
    # Asia
    ("Tokyo", "Japan", "JP", 35.68, 139.69, 40),
    ("Osaka", "Japan", "JP", 34.69, 135.50, 12),
    ("Kyoto", "Japan", "JP", 35.01, 135.77, 50),
    ("Sapporo", "Japan", "JP", 43.06, 141.35, 29),
    ("Fukuoka", "Japan", "JP", 33.59, 130.40, 3),
    ("Nagoya", "Japan", "JP", 35.18, 136.91, 51),
    ("Seoul", "South Korea", "KR", 37.57, 126.98, 38),
    ("Busan", "South Korea", "KR", 35.18, 129.08, 5),
    ("Pyongyang", "North Korea", "KP", 39.04, 125.76, 38),
    ("Beijing", "China", "CN", 39.90, 116.41, 44),
    ("Shanghai", "China", "CN", 31.23, 121.47, 4),
    ("Guangzhou", "China", "CN", 23.13, 113.26, 21),
    ("Shenzhen", "China", "CN", 22.54, 114.06, 1),
    ("Chengdu", "China", "CN", 30.57, 104.07, 500),
    ("Wuhan", "China", "CN", 30.59, 114.31, 37),
    ("Xi'an", "China", "CN", 34.34, 108.94, 405),
    ("Harbin", "China", "CN", 45.80, 126.53, 150),
    ("Kunming", "China", "CN", 25.04, 102.72, 1892),
    ("Lhasa", "China", "CN", 29.65, 91.17, 3650),
    ("Urumqi", "China", "CN", 43.83, 87.62, 800),
    ("Hong Kong", "Hong Kong", "HK", 22.32, 114.17, 5),
    ("Macau", "Macau", "MO", 22.20, 113.54, 5),
    ("Taipei", "Taiwan", "TW", 25.03, 121.57, 9),
    ("Ulaanbaatar", "Mongolia", "MN", 47.89, 106.91, 1350),
    ("Manila", "Philippines", "PH", 14.60, 120.98, 5),
    ("Cebu City", "Philippines", "PH", 10.32, 123.89, 17),
    ("Hanoi", "Vietnam", "VN", 21.03, 105.85, 10),
    ("Ho Chi Minh City", "Vietnam", "VN", 10.82, 106.63, 19),
    ("Da Nang", "Vietnam", "VN", 16.05, 108.20, 5),
    ("Bangkok", "Thailand", "TH", 13.76, 100.50, 2),
    ("Chiang Mai", "Thailand", "TH", 18.79, 98.98, 310),
    ("Phuket", "Thailand", "TH", 7.88, 98.39, 10),
    ("Phnom Penh", "Cambodia", "KH", 11.56, 104.93, 12),
    ("Vientiane", "Laos", "LA", 17.98, 102.63, 174),
    ("Yangon", "Myanmar", "MM", 16.87, 96.20, 23),
    ("Kuala Lumpur", "Malaysia", "MY", 3.14, 101.69, 56),
    ("Penang", "Malaysia", "MY", 5.41, 100.33, 10),
    ("Singapore", "Singapore", "SG", 1.35, 103.82, 15),
    ("Jakarta", "Indonesia", "ID", -6.21, 106.85, 8),
    ("Denpasar", "Indonesia", "ID", -8.65, 115.22, 4),
    ("Surabaya", "Indonesia", "ID", -7.25, 112.75, 5),
    ("Delhi", "India", "IN", 28.61, 77.21, 216),
    ("Mumbai", "India", "IN", 19.08, 72.88, 14),
    ("Bengaluru", "India", "IN", 12.97, 77.59, 920),
    ("Chennai", "India", "IN", 13.08, 80.27, 6),
    ("Kolkata", "India", "IN", 22.57, 88.36, 9),
    ("Hyderabad", "India", "IN", 17.39, 78.49, 505),
    ("Jaipur", "India", "IN", 26.91, 75.79, 431),
    ("Ahmedabad", "India", "IN", 23.02, 72.57, 53),
    ("Pune", "India", "IN", 18.52, 73.86, 560),
    ("Shimla", "India", "IN", 31.10, 77.17, 2276),
    ("Karachi", "Pakistan", "PK", 24.86, 67.01, 8),
    ("Lahore", "Pakistan", "PK", 31.55, 74.34, 217),
    ("Islamabad", "Pakistan", "PK", 33.68, 73.05, 540),
    ("Kabul", "Afghanistan", "AF", 34.56, 69.21, 1790),
    ("Dhaka", "Bangladesh", "BD", 23.81, 90.41, 4),
    ("Kathmandu", "Nepal", "NP", 27.72, 85.32, 1400),
    ("Thimphu", "Bhutan", "BT", 27.47, 89.64, 2330),
    ("Colombo", "Sri Lanka", "LK", 6.93, 79.86, 1),
    ("Male", "Maldives", "MV", 4.18, 73.51, 1),
    ("Tashkent", "Uzbekistan", "UZ", 41.30, 69.24, 455),
    ("Samarkand", "Uzbekistan", "UZ", 39.65, 66.96, 702),
    ("Almaty", "Kazakhstan", "KZ", 43.24, 76.95, 800),
    ("Astana", "Kazakhstan", "KZ", 51.17, 71.45, 347),
    ("Bishkek", "Kyrgyzstan", "KG", 42.87, 74.59, 800),
    ("Dushanbe", "Tajikistan", "TJ", 38.56, 68.79, 800),
    ("Ashgabat", "Turkmenistan", "TM", 37.95, 58.38, 219),
    ("Tehran", "Iran", "IR", 35.69, 51.39, 1190),
    ("Isfahan", "Iran", "IR", 32.65, 51.67, 1574),
    ("Baghdad", "Iraq", "IQ", 33.31, 44.37, 34),
    ("Riyadh", "Saudi Arabia", "SA", 24.71, 46.68, 612),
    ("Jeddah", "Saudi Arabia", "SA", 21.49, 39.19, 12),
    ("Dubai", "United Arab Emirates", "AE", 25.20, 55.27, 5),
    ("Abu Dhabi", "United Arab Emirates", "AE", 24.45, 54.38, 5),
    ("Doha", "Qatar", "QA", 25.29, 51.53, 10),
    ("Manama", "Bahrain", "BH", 26.23, 50.59, 5),
    ("Kuwait City", "Kuwait", "KW", 29.38, 47.99, 15),
    ("Muscat", "Oman", "OM", 23.59, 58.41, 15),
    ("Sana'a", "Yemen", "YE", 15.37, 44.19, 2250),
    ("Amman", "Jordan", "JO", 31.95, 35.93, 773),
    ("Beirut", "Lebanon", "LB", 33.89, 35.50, 30),
    ("Damascus", "Syria", "SY", 33.51, 36.29, 680),
    ("Jerusalem", "Israel", "IL", 31.77, 35.21, 754),
    ("Tel Aviv", "Israel", "IL", 32.09, 34.78, 5),
    # Oceania
    ("Sydney", "Australia", "AU", -33.87, 151.21, 3),
    ("Melbourne", "Australia", "AU", -37.81, 144.96, 31),
    ("Brisbane", "Australia", "AU", -27.47, 153.03, 28),
    ("Perth", "Australia", "AU", -31.95, 115.86, 20),
    ("Adelaide", "Australia", "AU", -34.93, 138.60, 50),
    ("Hobart", "Australia", "AU", -42.88, 147.33, 10),
    ("Darwin", "Australia", "AU", -12.46, 130.84, 30),
    ("Canberra", "Australia", "AU", -35.28, 149.13, 578),
    ("Cairns", "Australia", "AU", -16.92, 145.77, 5),
    ("Alice Springs", "Australia", "AU", -23.70, 133.88, 545),
    ("Auckland", "New Zealand", "NZ", -36.85, 174.76, 30),
    ("Wellington", "New Zealand", "NZ", -41.29, 174.78, 20),
    ("Christchurch", "New Zealand", "NZ", -43.53, 172.64, 20),
    ("Queenstown", "New Zealand", "NZ", -45.03, 168.66, 330),
    ("Suva", "Fiji", "FJ", -18.14, 178.44, 5),
    ("Port Moresby", "Papua New Guinea", "PG", -9.44, 147.18, 40),
    ("Noumea", "New Caledonia", "NC", -22.28, 166.46, 5),
    ("Apia", "Samoa", "WS", -13.83, -171.76, 2),
    ("Papeete", "French Polynesia", "PF", -17.54, -149.57, 2),
    # polar and remote
    ("Nuuk", "Greenland", "GL", 64.18, -51.72, 10),
    ("Longyearbyen", "Svalbard", "SJ", 78.22, 15.65, 10),
    ("Yellowknife", "Canada", "CA", 62.45, -114.37, 206),
    ("Iqaluit", "Canada", "CA", 63.75, -68.52, 34),
    ("Yakutsk", "Russia", "RU", 62.03, 129.73, 95),
    ("Stanley", "Falkland Islands", "FK", -51.70, -57.85, 10),
]

CITIES: list[City] = [City(*row) for row in _ROWS]
CITY_BY_NAME: dict[str, City] = {c.name: c for c in CITIES}

# Where the bare name really is ambiguous (no one place the user obviously means): the generator only
# uses these with a hint, a country, or as a lesson in asking which one.
AMBIGUOUS = ("Portland", "San Jose", "Valencia", "Cordoba")

# Other spellings the geocoder resolves to a gazetteer city: native names with their accents (as
# Open-Meteo's geocoder accepts them) and common misspellings of the kind people type.
NATIVE_NAMES = {
    "São Paulo": "Sao Paulo", "München": "Munich", "Köln": "Cologne", "Zürich": "Zurich", "Genève": "Geneva",
    "Bogotá": "Bogota", "Medellín": "Medellin", "Kraków": "Krakow", "Reykjavík": "Reykjavik",
    "Montréal": "Montreal", "Québec": "Quebec City", "Wien": "Vienna", "Praha": "Prague", "Lisboa": "Lisbon",
    "Firenze": "Florence", "Napoli": "Naples", "Venezia": "Venice", "Milano": "Milan", "Roma": "Rome",
    "Sevilla": "Seville", "Málaga": "Malaga", "Göteborg": "Gothenburg", "Tromsø": "Tromso",
    "Bruxelles": "Brussels", "Asunción": "Asuncion", "Brasília": "Brasilia", "Belém": "Belem",
    "Cancún": "Cancun", "Valparaíso": "Valparaiso", "Marrakech": "Marrakesh", "Kyiv": "Kyiv",
    "Athína": "Athens", "København": "Copenhagen", "Warszawa": "Warsaw", "Beograd": "Belgrade",
    "Bucureşti": "Bucharest", "Torino": "Turin", "Den Haag": None,
}
NATIVE_NAMES = {k: v for k, v in NATIVE_NAMES.items() if v is not None and k != v}
MISSPELLINGS = {
    "Edinburg": "Edinburgh", "Pittsburg": "Pittsburgh", "Amsterdm": "Amsterdam", "Barcelonna": "Barcelona",
    "Copenhagan": "Copenhagen", "Budapset": "Budapest", "Philadelphia": None, "Philadelpia": "Philadelphia",
    "Cincinatti": None, "Albuqerque": "Albuquerque", "Los Angelas": "Los Angeles", "Chicgo": "Chicago",
    "Melbourn": "Melbourne", "Brisbaine": "Brisbane", "Vancover": "Vancouver", "Torronto": "Toronto",
    "Manchestor": "Manchester", "Dubln": "Dublin", "Lisbn": "Lisbon", "Stockholme": "Stockholm",
    "Helsinky": "Helsinki", "Reykjavic": "Reykjavik", "Marseilles": "Marseille", "Bankok": "Bangkok",
    "Singapour": "Singapore", "Johannesberg": "Johannesburg", "Nairoby": "Nairobi", "Buenos Aries": "Buenos Aires",
    "Rio de Janiero": "Rio de Janeiro", "Sidney": None, "Kathmandhu": "Kathmandu", "Tokio": "Tokyo",
    "Seol": "Seoul", "Istambul": "Istanbul", "Jerusalam": "Jerusalem", "Albequerque": "Albuquerque",
    "Minneapols": "Minneapolis", "Las Vagas": "Las Vegas", "Edmondton": "Edmonton", "Montevidio": "Montevideo",
}
MISSPELLINGS = {k: v for k, v in MISSPELLINGS.items() if v is not None}
ALIASES: dict[str, str] = NATIVE_NAMES | MISSPELLINGS

WORLD_DIR = Path(__file__).resolve().parents[2] / "data" / "world"


class Place(NamedTuple):
    """One GeoNames city of 15,000 people or more, named as Open-Meteo's geocoder names it."""

    geonameid: int
    name: str
    admin1: str
    country_code: str
    country: str
    population: int
    timezone: str
    latitude: float
    longitude: float


@functools.cache
def world_places() -> tuple[Place, ...]:
    """The shipped place table (data/world/places.tsv.gz, rebuilt by data/world/build_places.py), largest first."""
    path = WORLD_DIR / "places.tsv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; rebuild it with python data/world/build_places.py (see its docstring)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        next(f)
        rows = [line.rstrip("\n").split("\t") for line in f]
    return tuple(Place(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), r[6], float(r[7]), float(r[8])) for r in rows)


@functools.cache
def known_names() -> frozenset[str]:
    """Lower-cased names of every GeoNames place of 1,000 people or more (data/world/known_names.txt.gz)."""
    path = WORLD_DIR / "known_names.txt.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; rebuild it with python data/world/build_places.py (see its docstring)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


def is_real_place(name: str) -> bool:
    """True where a geocoder could find `name`: it is a GeoNames place of 1,000+ people or a built-in city."""
    key = " ".join(name.split()).lower()
    return key in known_names() or key in _BY_KEY


# Fictional or invented names: no geocoder returns them. Names that are also real towns
# (El Dorado, Avalon, Atlantis, Gotham, Shangri-La, Florin...) are dropped below.
_FICTIONAL = [
    "Atlantis", "El Dorado", "Shangri-La", "Gotham", "Narnia", "Wakanda", "Lilliput", "Brigadoon",
    "Xanadu", "Camelot", "Avalon", "Mordor", "Hogsmeade", "Bikini Bottom", "Zubrowka", "Latveria",
    "Genovia", "Ruritania", "Freedonia", "Sokovia", "Elbonia", "Florin", "Arendelle", "Themyscira",
    "Hobbiton", "Rivendell", "Neverland", "Oz", "Laputa", "Erewhon", "Utopia", "Vulcan City",
]
# Syllables for invented town names ("Brimvale", "Quorrington"): more unknown places
# than a fixed list, so the model learns the shape, not a list of names.
_SYLLABLES_A = ["Brim", "Quor", "Zel", "Varn", "Thist", "Mold", "Grel", "Yarn", "Pelt", "Oszk", "Drav", "Fenn",
                "Kolb", "Lum", "Nix", "Sprock", "Wib", "Tarq", "Ulm", "Hask"]
_SYLLABLES_B = ["vale", "ington", "mouth", "ovka", "stead", "borough", "ford", "wick", "enza", "grad", "holt",
                "ridge", "ville", "thorpe", "mere", "akis"]


def invented_place(rng) -> str:
    """A made-up town name (fictional list or two invented syllables)."""
    if rng.random() < 0.35:
        return rng.choice(UNKNOWN_PLACES)
    while True:  # a few syllable pairs are real towns (Fennville, Michigan): draw again
        name = rng.choice(_SYLLABLES_A) + rng.choice(_SYLLABLES_B)
        if not is_real_place(name):
            return name


_BY_KEY: dict[str, str] = {c.name.lower(): c.name for c in CITIES} | {a.lower(): n for a, n in ALIASES.items()}
UNKNOWN_PLACES = [n for n in _FICTIONAL if not is_real_place(n)]


def geocode(name: str) -> City | None:
    """The gazetteer's city for a name: exact, a native name or a known misspelling (case-insensitive)."""
    canonical = _BY_KEY.get(" ".join(name.split()).lower())
    return CITY_BY_NAME[canonical] if canonical else None


def fold(name: str) -> str:
    """A name without accents or case, as a geocoder matches it ("São Paulo" and "sao paulo" are one)."""
    plain = unicodedata.normalize("NFKD", name.replace("\u2019", "'"))
    return " ".join("".join(ch for ch in plain if not unicodedata.combining(ch)).casefold().split())


@functools.cache
def _namesakes() -> dict[str, tuple[Place, ...]]:
    by: dict[str, list[Place]] = {}
    for p in world_places():  # largest first
        by.setdefault(fold(p.name), []).append(p)
    return {k: tuple(v) for k, v in by.items()}


@functools.cache
def _by_country() -> dict[str, tuple[Place, ...]]:
    by: dict[str, list[Place]] = {}
    for p in world_places():
        by.setdefault(p.country_code, []).append(p)
    return {k: tuple(v) for k, v in by.items()}


TWIN_DEGREES = 0.3  # about 30 km: a built-in city and its GeoNames row are the same place within this


@functools.cache
def twin(name: str) -> Place | None:
    """The world-table row of a built-in city (same country, nearest within TWIN_DEGREES, the same name
    preferred), or None for a city under 15,000 people (Iqaluit, Queenstown) the table does not hold."""
    city = CITY_BY_NAME[name]
    best, best_key = None, None
    for p in _by_country().get(city.country_code, ()):
        d = max(abs(p.latitude - city.latitude), abs(p.longitude - city.longitude))
        if d > TWIN_DEGREES:
            continue
        key = (fold(p.name) != fold(city.name), d)
        if best_key is None or key < best_key:
            best, best_key = p, key
    return best


def _as_found(city: City) -> City:
    """A built-in city as the geocoder returns it: its accents and region from its world-table twin."""
    row = twin(city.name)
    if row is None:
        return city._replace(population=10**9)  # not in the table: the small city the user means ranks first
    name = row.name if fold(row.name) == fold(city.name) else city.name  # "Zürich", but "Cologne" not "Köln"
    return city._replace(name=name, admin1=row.admin1 or city.admin1, population=row.population)


OPEN_METEO_COUNT = 10  # the live tool asks Open-Meteo for this many places (tasks/serve/tools.py)


def geocode_all(name: str, country: str | None = None) -> list[City]:
    """Every place the geocoder returns for `name`, as the live tool shapes Open-Meteo's answer: the namesakes
    from the world table, largest first, narrowed to `country` (a country, a code or a region; else all, as
    tasks/data/openmeteo.narrow), then the first place and the other sizeable ones (openmeteo.shape_geocode's
    rule). Accents and `admin1` as Open-Meteo gives them; none for an unknown name."""
    from tasks.data import openmeteo

    city = geocode(name)
    if city is None:
        return []
    own = _as_found(city)
    row = twin(city.name)
    places = [own] + [City(p.name, p.country, p.country_code, round(p.latitude, 2), round(p.longitude, 2), None,
                           p.admin1, p.population)
                      for p in _namesakes().get(fold(city.name), ()) if row is None or p.geonameid != row.geonameid]
    # Open-Meteo ranks a name's best-known place first (capitals and large cities by GeoNames' feature
    # class, not by population alone): the built-in city leads, except where the name is truly ambiguous,
    # where population decides (Valencia, Venezuela before Valencia, Spain).
    places = sorted(places, key=lambda c: (city.name not in AMBIGUOUS and c is not own, -c.population))[:OPEN_METEO_COUNT]
    rows = [{"country": c.country, "country_code": c.country_code, "admin1": c.admin1, "i": i} for i, c in enumerate(places)]
    if country:
        rows = openmeteo.narrow(rows, country)
    kept = []
    for r in rows:
        c = places[r["i"]]
        if kept and (len(kept) >= openmeteo.MAX_PLACES or c.population < openmeteo.SIZEABLE_PLACE):
            continue
        kept.append(c)
    return kept


@functools.cache
def homonyms() -> dict[str, list[City]]:
    """Built-in cities whose name the geocoder returns more than one place for (London: England and
    Ontario), with those places in the geocoder's order."""
    return {c.name: found for c in CITIES if len(found := geocode_all(c.name)) > 1}


def __getattr__(name: str):
    if name == "HOMONYMS":  # computed on first use: it reads the world table
        return homonyms()
    raise AttributeError(name)


def run() -> None:
    countries = {c.country for c in CITIES}
    for c in CITIES:
        print(f"{c.name:28s} {c.country:24s} {c.latitude:8.2f} {c.longitude:9.2f} {c.elevation:6d} m")
    ui.success(f"{len(CITIES)} cities in {len(countries)} countries; {len(UNKNOWN_PLACES)} fictional places")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    return ui.main_guard(run)


if __name__ == "__main__":
    raise SystemExit(main())
